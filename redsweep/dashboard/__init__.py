"""See a sweep: the web dashboard (``redsweep dashboard``), the one-file report
(``redsweep report``) and the terminal view (``redsweep watch``).

Imported only by those commands: it pulls in starlette, uvicorn, plotly's assets, scikit-learn
and rich, which a training script that does ``import redsweep`` never needs.
"""

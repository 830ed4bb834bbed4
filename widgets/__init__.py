"""HjerteKom entry UI: ipywidgets forms generated from the data contract (served by Voilà).

Imported as ``hjertekom_widgets`` (the folder is ``widgets/``) so that the name cannot clash with
any other ``widgets`` package. The UI builds on ``hjertekom_core``; the core never imports this.
"""

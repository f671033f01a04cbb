"""bnn2hw's RTL layers inside FINN: custom ops (``ops``), ``--impl rtl`` specialisation
(``specialize``) and the export of every RTL source of a build (``export``)."""

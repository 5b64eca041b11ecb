"""Synthesizers behind one interface (`base.Synthesizer`), found by name in `registry`."""

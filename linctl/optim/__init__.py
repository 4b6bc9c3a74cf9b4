"""The optimizer: its settings (no torch), a real torch optimizer rebuilt with its state, one step, the loop."""

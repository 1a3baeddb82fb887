"""The window: with app.py, the only code that imports Qt. Everything here calls the headless core."""

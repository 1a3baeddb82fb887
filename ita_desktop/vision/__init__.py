"""The vision review: the chart picture and its detector context to a vision model, the answer grounded.

The only package that speaks to model endpoints (LangChain's ChatOpenAI). Qt-free and SQL-free:
the picture comes in as PNG bytes, the record goes out to the core, which stores it.
"""

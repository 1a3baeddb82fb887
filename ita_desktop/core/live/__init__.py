"""Live sessions and Bar Replay in the core (no Qt).

A feed (MT5 polling, a replay of stored bars) hands a ``LiveSession`` closed bars; the session
stores them, advances every rule's detectors and matcher incrementally on its own timeframe,
stores and raises each new signal once and follows it as a paper trade. See ``live_session``.
"""

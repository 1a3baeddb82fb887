"""Learning from past setups: feature vectors, the similar-setups index (ChromaDB), the scorer, proposals.

No Qt, no SQL: the index is rebuilt from what storage/ and the rule engine give; SQLite stays the
source of truth."""

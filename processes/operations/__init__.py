"""Operating running orders: suspend and resume (`suspension`), fix variables (`variables`), move tokens
(`modification`), migrate to another version (`migration`), and run any of these (or incident retries) on many orders
as a batch (`batches`). Every action is one engine step per order, audited with who, when, why (the comment) and
what changed. `Suspension` and `BatchRunner` are features of the engine core, listed in app/features.py."""

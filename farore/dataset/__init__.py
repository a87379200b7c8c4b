"""The training-dataset toolkit behind ``farore data``: schema, diagnosis-first format, coverage,
dedup, balance, contamination and importers. The dataset format and the shipped dataset are
described in fixtures/datasets/README.md."""

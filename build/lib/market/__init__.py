"""The domain: what an offer is, which GPU it is, and the facts every other package shares.

This package is the ground floor. It imports no other package of this project, and
connectors, warehouse, costmodel, pipelines, the CLI and the dashboard all import it:

* `market.offer`: the offer record (the parsed-row schema and the warehouse offer columns),
  pricing kinds;
* `market.rules`: the rules that turn a parser's rows into offers or quarantined rows;
* `market.providers`: one id per provider, whoever quotes it;
* `market.gpu_names`: one canonical id per GPU, whatever the spelling;
* `market.specs`: the curated spec sheet, datasheet sparsity figures and the assumptions,
  kept as CSV files in `market/data/`.
"""

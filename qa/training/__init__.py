"""Tooling around the answering pipeline, never on a question's path: the SQuAD-style data-set
readers and their evaluation indexes (`datasets`), measuring answers (`evaluate`), training the
selector and the linear ranker (`train_selector`, `train_ranker`), unanswerable questions made
from training data (`near_miss`), and the page's verdicts (`feedback`)."""

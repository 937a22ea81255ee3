"""The course scenarios' names, framework-free: the command line checks them before importing."""

from __future__ import annotations

TRAINING = ("hihello", "hello_rnn_summed", "hello_rnn_embedding", "hello_rnn_embedding_sgd",
            "rnn_classifier", "many_to_one", "stacked_many_to_one", "pos_tagger",
            "bidirectional_pos_tagger")


def is_file_name(name: str) -> bool:
    """A scenario named by its file (``my.json``, ``path/to/it.json``) rather than by name."""
    return name.endswith(".json")

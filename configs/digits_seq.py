"""Embedded sequential scenario: digits 'low' (0-4) first, then 'high' (5-9).

The embedded twin of the paper's S1 (METHOD.md, Eq. 4): stage 1 learns 'low'
with its hierarchy; stage 2 learns 'high' while distilling 'low' from a
frozen copy of the stage-1 network, with no 'low' data at hand.
"""

from configs.digits import get_config as digits_config


def get_config():
    """The digits_seq scenario."""
    c = digits_config()
    c.scenario = "digits_seq"
    c.sequential = True
    return c

"""Retrieval evaluation: metrics from explicit relevance sets (``metrics``), ``audioseek
evaluate`` (``retrieval``), Table 5 formatting (``report``) and the paper's experiment grid
(``experiments``). Importing the package is cheap; torch is imported inside functions."""

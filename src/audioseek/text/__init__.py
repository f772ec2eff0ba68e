"""Caption text: augmentation (misspellings, typos, WordNet synonyms/hypernyms), offline
WordNet setup and word-level helpers. Imports only standard libraries and nltk."""

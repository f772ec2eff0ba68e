"""Audio layer: decoding (:mod:`.io`), spectrogram front ends (:mod:`.features`), fixed-length
clips and sliding windows (:mod:`.windows`) and train-time augmentation (:mod:`.augment`).

Nothing is imported here, so ``import audioseek.audio.io`` does not pull in torch.
"""

"""Flags shared by several command groups."""

from __future__ import annotations

import argparse


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="torch device: auto (CUDA if present, else CPU), cpu, cuda, cuda:N, mps",
    )


def add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=None,
        help="model: 'clap' (LAION-CLAP, default when loadable), 'offline' (bundled), "
        "a DualEncoder directory, or a Hugging Face id",
    )

"""`python -m embeddings`: rebuild the index (the same as `aluqa build`)."""

import argparse
import sys

from embeddings.corpus.build import add_build_arguments, run_build


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m embeddings", description="Rebuild the AluQA index.")
    add_build_arguments(parser)
    return run_build(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

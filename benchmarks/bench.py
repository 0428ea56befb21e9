"""Same as ``xpgd bench``: ours vs the memory-bandwidth floor and vs peers, in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench.py \
        [--rows 1000000] [--features 100] [--dtype float64|float32] [--backend cupy]

(Unset the two OpenBLAS variables for benchmark runs only: they slow a current NumPy.)
"""

from xpgd.bench import main

if __name__ == "__main__":
    main()

"""The math, written once against the Array API standard.

Nothing in this package imports NumPy or CuPy: every function takes ``*, xp`` (or reads it
from an object built with one) and uses only the standard's functions. The host/device
boundary is :mod:`xpgd._backend`, whose helpers the solver loop calls to synchronise every
``check_every`` iterations and to compute lazy (Dask) evaluations.
"""

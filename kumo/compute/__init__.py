"""Compute (Nova v2.1): the API under ``/compute``, the scheduler, the agents' feed and
the metadata service under ``/metadata``. See :mod:`kumo.compute.manager`."""

"""The Block Storage service (Cinder v3) under ``/volume``: volumes, volume types,
snapshots, backups, attachments, transfers, quotas and limits, availability zones and
services. Data lives on backends (:mod:`kumo.volume.drivers`); the API answers at once
and the volume worker (:mod:`kumo.volume.worker`) moves the data, as cinder-volume
and cinder-backup do."""

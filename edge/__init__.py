"""edge: the vehicle runtime. Camera streams -> OpenVINO student -> annotated, saved frames.

Never imports torch: the Raspberry Pi has no room for it.
"""

"""The jobs that span every package: the `crackedge` umbrella command, the end-to-end demo and the
benchmark report. The top floor: it may import teacher, distill, edge, calib and the crackedge
ground; nothing imports it."""

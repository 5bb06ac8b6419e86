"""The bottom layer: errors, atomic files, progress reports, the allowed folders, the runs
folder. Imports nothing else of hmf_core."""

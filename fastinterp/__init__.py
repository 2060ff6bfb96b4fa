from importlib.metadata import version as _version, PackageNotFoundError as _PNF
try: __version__ = _version('fastinterp')
except _PNF: __version__ = 'unknown'

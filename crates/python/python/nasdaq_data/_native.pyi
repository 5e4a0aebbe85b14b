"""Type stubs for the compiled module; use the functions of ``nasdaq_data``."""

from typing import Any, Dict, List, Optional, Tuple

__version__: str

class NasdaqDataError(Exception): ...
class SourceError(NasdaqDataError): ...
class DataError(NasdaqDataError): ...
class ConfigError(NasdaqDataError): ...

def load(
    source: Optional[str] = ...,
    *,
    tickers: Optional[List[str]] = ...,
    start: Optional[str] = ...,
    end: Optional[str] = ...,
    ticker: Optional[str] = ...,
    dialect: Optional[str] = ...,
    glob: Optional[str] = ...,
    env_file: Optional[str] = ...,
    config: Optional[str] = ...,
    offline: bool = ...,
    refresh: bool = ...,
    fallback: Optional[bool] = ...,
    validate: bool = ...,
    strict: bool = ...,
    output: Optional[str] = ...,
    rejects: Optional[str] = ...,
    settings: Optional[Dict[str, Any]] = ...,
) -> Tuple[Any, str, str, Any]: ...
def check(target: Optional[str] = ..., *, env_file: Optional[str] = ..., config: Optional[str] = ..., settings: Optional[Dict[str, Any]] = ...) -> str: ...
def ls(location: Optional[str] = ..., *, env_file: Optional[str] = ..., config: Optional[str] = ..., settings: Optional[Dict[str, Any]] = ...) -> str: ...
def upload(file: str, target: Optional[str] = ..., *, force: bool = ..., env_file: Optional[str] = ..., config: Optional[str] = ..., settings: Optional[Dict[str, Any]] = ...) -> str: ...
def write_dataset(source: str, output: str, *, partition_by: str = ..., append: bool = ..., glob: Optional[str] = ..., tickers: Optional[List[str]] = ..., start: Optional[str] = ..., end: Optional[str] = ..., ticker: Optional[str] = ..., dialect: Optional[str] = ..., strict: bool = ..., target_file_size_mb: int = ..., jobs: int = ..., env_file: Optional[str] = ..., config: Optional[str] = ..., settings: Optional[Dict[str, Any]] = ...) -> str: ...

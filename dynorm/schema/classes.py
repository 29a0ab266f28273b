"""A model class as reads and writes see it, without the ``Model`` facade (pure).

`compile_model()` turns a declared class into what every read and write uses, kept on
the class: its `TableMeta` (``__dynorm_meta__``), the attribute paths of its fields
(``__dynorm_paths__``) and the hooks it overrides (``__dynorm_hooks__``). `meta_of()` is
how ``dynorm.read`` and ``dynorm.write`` reach a model's metadata: it compiles a model
declared before its forward references resolved, on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dynorm.codec.objects import ObjectCodec
from dynorm.exceptions import DynormError, SchemaError
from dynorm.expressions import Path
from dynorm.schema.compile import compile_meta
from dynorm.schema.indexes import _Index
from dynorm.schema.meta import KeyAttr, TableMeta
from dynorm.schema.replicas import refuse_strong
from dynorm.schema.templates import KeyTemplate
from dynorm.security.markers import SealedPath

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["HOOKS", "compile_model", "has_hook", "key_path", "meta_of"]

#: The lifecycle hooks a model may override; writes skip the await of one it does not.
HOOKS = ("before_save", "after_save", "before_delete", "after_delete")


def compile_model(cls: type[Model]) -> None:
    """Compile the declaration (TableMeta, codecs, paths, hooks) once; SchemaError if wrong.

    A class whose annotations do not resolve yet is rebuilt first (``model_rebuild()``);
    one that still does not resolve is a `SchemaError` naming the fix.
    """
    if "__dynorm_paths__" in cls.__dict__:
        return
    if not cls.__pydantic_complete__ and not cls.model_rebuild(raise_errors=False):
        raise SchemaError(
            f"{cls.__name__} names a type that is not defined yet: define it, then call "
            f"{cls.__name__}.model_rebuild()"
        )
    if "__dynorm_paths__" in cls.__dict__:
        return  # model_rebuild() completed the class, and compiled it on the way
    declared = [
        (name, value)
        for klass in reversed(cls.__mro__)
        for name, value in vars(klass).items()
        if isinstance(value, (_Index, KeyTemplate))
    ]
    # A subclass re-declaring an attribute replaces the inherited declaration.
    unique = list(dict(declared).values())
    try:
        meta = compile_meta(
            cls,
            cls.__dynorm_table__,
            [d for d in unique if isinstance(d, _Index)],
            cls.__dynorm_reserved__,
            templates=[d for d in unique if isinstance(d, KeyTemplate) and d.role],
            entity=cls.__dynorm_entity__,
            entity_attr=cls.__dynorm_entity_attr__,
            store_key_fields=cls.__dynorm_store_key_fields__,
            schema_version=cls.__dynorm_schema_version__,
        )
    except SchemaError:
        raise
    except DynormError as exc:
        raise SchemaError(f"{cls.__name__}: {exc}") from exc
    refuse_strong(cls, meta)
    cls.__dynorm_meta__ = meta
    codec = meta.codec if meta is not None else ObjectCodec(cls)
    cls.__dynorm_hooks__ = _overridden_hooks(cls)
    paths = {name: Path((fc.attr,), fc.codec, cls, name) for name, fc in codec.fields.items()}
    for spec in meta.sealed if meta is not None else ():
        what = ("encrypted" if spec.keyring is not None else "compressed"
                if spec.store is None else "stored in S3")
        paths[spec.field] = SealedPath(paths[spec.field], what)
    cls.__dynorm_paths__ = paths
    cls.__dynorm_pending__ = False


def _overridden_hooks(cls: type[Any]) -> frozenset[str]:
    """The hooks ``cls`` (or a base below ``Model``) overrides: the class that defines a
    hook first in the MRO is not the one that declares it (the last, ``Model``)."""
    found = set()
    for hook in HOOKS:
        owners = [klass for klass in cls.__mro__ if hook in vars(klass)]
        if len(owners) > 1 and getattr(cls, hook) is not getattr(owners[-1], hook):
            found.add(hook)
    return frozenset(found)


def meta_of(model: type[Model]) -> TableMeta:
    """The compiled table metadata of ``model`` (compiled now if it was pending).

    Raises:
        SchemaError: the model declares no table, or its declaration is wrong.
    """
    meta = model.__dynorm_meta__
    if meta is None and model.__dynorm_pending__:
        compile_model(model)
        meta = model.__dynorm_meta__
    if meta is None:
        raise SchemaError(
            f"{model.__name__} has no table: declare it as class {model.__name__}(Model, "
            'table="...")'
        )
    return meta


def has_hook(model: type[Model], hook: str) -> bool:
    """True when ``model`` overrides the hook ``hook`` (batches skip the await if not)."""
    hooks = model.__dict__.get("__dynorm_hooks__")
    if hooks is None:  # not compiled yet (declared before its forward references)
        meta_of(model)
        hooks = model.__dict__.get("__dynorm_hooks__", frozenset())
    return hook in hooks


def key_path(model: type[Model], key: KeyAttr) -> Path:
    """The path of a key attribute (a field's, or a template's computed attribute)."""
    if key.template is None:
        return model.__dynorm_paths__[key.field]
    return Path((key.attr,), key.codec, model, None)

"""What every generator config shares: pydantic errors as one :class:`RadsynthInputError`, ``create()``.

The configs (:class:`~radsynth.generators.diffusion.ddpm.DDPMConfig`, ``GANConfig``, ``VAEConfig``,
``AutoencoderKLConfig``, ``LDMConfig``) are frozen pydantic models with a ``create(**kw)``
classmethod (validate, then the cross-field ``check()``) so that bad input is one
``RadsynthInputError(field, value, accepted)`` rather than a pydantic ``ValidationError``.
No torch here: configs validate without it.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import ValidationError

from radsynth.core.errors import RadsynthInputError


def input_error(exc: ValidationError, prefix: str = "") -> RadsynthInputError:
    """The first problem of a pydantic ``ValidationError`` as a :class:`RadsynthInputError`.

    The field is the error's location joined with dots (``prefix.`` in front for a nested config,
    ``"config"`` when there is no location), the value the offending input, ``accepted`` pydantic's message.
    """
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err.get("loc", ()))
    field = ".".join(p for p in (prefix, loc) if p) or "config"
    return RadsynthInputError(field, err.get("input"), err.get("msg", "a valid value"))


class ConfigCreateMixin:
    """``create(**kwargs)`` for a pydantic config with a ``check()`` method (mix in before ``BaseModel``)."""

    def check(self) -> None:
        """Cross-field checks (raise RadsynthInputError); none by default."""

    @classmethod
    def create(cls, **kwargs: Any) -> Self:
        """Validated config; any problem is one :class:`RadsynthInputError` (pydantic would wrap it)."""
        try:
            cfg = cls(**kwargs)
        except ValidationError as exc:
            raise input_error(exc) from None
        cfg.check()
        return cfg


class JsonConfigMixin(ConfigCreateMixin):
    """:class:`ConfigCreateMixin` plus ``to_json()`` / ``from_json(text or dict)`` (the config as ``config.json``
    stores it; ``from_json`` validates through ``create``)."""

    def to_json(self) -> str:
        import json

        return json.dumps(self.model_dump(mode="json"), indent=1, sort_keys=True)  # type: ignore[attr-defined]

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> Self:
        import json

        doc = json.loads(text) if isinstance(text, str) else dict(text)
        return cls.create(**doc)


def check_distinct_classes(classes: tuple[str, ...]) -> None:
    """Class names must differ case-insensitively (``--label`` matches them that way)."""
    if len(set(c.lower() for c in classes)) != len(classes):
        raise RadsynthInputError("classes", list(classes), "distinct class names (case-insensitive)")


def class_index(classes: tuple[str, ...], name: str) -> int:
    """Index of class ``name`` in ``classes`` (case-insensitive); RadsynthInputError if unknown or unconditional.

    Shared by every generator config (DDPM, LDM, GAN, VAE) so ``--label`` behaves the same everywhere.
    """
    if not classes:
        raise RadsynthInputError("--label", name, "no label: this model is unconditional")
    low = {c.lower(): i for i, c in enumerate(classes)}
    if name.lower() not in low:
        raise RadsynthInputError("--label", name, ", ".join(c.lower() for c in classes))
    return low[name.lower()]


def count_parameters(model: Any) -> int:
    """Number of parameters of a ``torch.nn.Module`` (trainable or not)."""
    return int(sum(p.numel() for p in model.parameters()))

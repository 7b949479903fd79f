"""Transformers of the induction-head lab: the simplified associative-memory model and a vanilla one.

Both are a :class:`Transformer`: embeddings, a stack of :class:`Block`, an
unembedding. Vectors are rows (``x @ W.T``); every matrix is stored as
``(out, in)`` and named as in Bietti et al. (2023): ``W1_K`` is the key matrix
of the first layer, held at ``blocks.0.attn.W_K``.

The simplified model (section 4.2 of the paper) keeps the token embeddings
``W_E``, positional embeddings ``W_pos`` and unembedding ``W_U`` frozen at
Gaussian initialization with variance ``1/d``; ``W_Q`` is the identity and the
attention scores are not rescaled (``x_t^T W_K x_s``). Value and output
matrices are frozen at random initialization except the last layer's ``W_O``;
the keys ``W_K`` of every layer, the last ``W_O`` and the optional linear
feed-forward ``W_F`` (``h + W_F h`` after the last layer) are trained. Before
the last layer, the two frozen matrices are stored as their product
``W_OV = W_O W_V`` (one matmul instead of two), so that layer's ``hook_z`` holds
the head output already in the residual basis; with one head, zero, mean and
resample ablations of ``z`` are unchanged by that fixed linear map.

The vanilla model has learned ``W_Q, W_K, W_V, W_O`` with ``n_heads`` heads,
scores scaled by ``1/sqrt(d_head)``, optional ReLU MLP (width ``4d``) and
pre-LayerNorm, learned or frozen random positional embeddings, and token
embedding/unembedding optionally frozen.

Hook points (TransformerLens names): ``hook_embed``, ``hook_pos_embed``,
``blocks.{l}.hook_resid_pre``, ``blocks.{l}.hook_{q,k,v}_input`` (B, T, H, d: the
residual stream each head reads its queries, keys, values from, computed only
while hooked), ``blocks.{l}.attn.hook_pattern`` (B, H, T, T),
``blocks.{l}.attn.hook_z`` (B, T, H, d_head), ``blocks.{l}.hook_attn_out``,
``blocks.{l}.hook_resid_post``. A :class:`Transformer` implements
:class:`causalattn.lab.models.contract.HookedModel` and its fast path
:class:`causalattn.lab.models.contract.Resumable`.

Training and evaluation without hooks take a fused path (simplified model
only, :meth:`Transformer.logits_at`, :mod:`causalattn.lab.models.fused`): the
same function, computed without materializing the hook points, about 2x
faster per training update. Attaching
any hook switches back to the explicit computation, so every hook sees (and
may replace) exactly the activations described above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from causalattn._memory import FLOAT, Need, check_memory
from causalattn._validation import check_choice, check_positive_int, check_seed
from causalattn.lab.models.contract import (
    check_activation,
    check_layer,
    check_tokens,
    check_where,
    describe,
    transformer_lens_name,
)
from causalattn.lab.models.fused import fused_logits
from causalattn.lab.models.hooks import HookPoint, has_hooks, in_use

__all__ = ["ModelConfig", "Transformer", "build_model"]

KINDS = ("simplified", "vanilla")
POS_EMBS = ("random", "learned")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a lab transformer; raises ValueError naming the field for impossible values."""

    kind: str = "simplified"  # "simplified" associative-memory model (paper section 4.2) or "vanilla"
    n_layers: int = 2  # attention layers; 1 gives the one-layer baseline
    n_heads: int = 1  # heads per layer (the simplified model has exactly one)
    d_model: int = 256  # width d of the residual stream
    vocab_size: int = 65  # tokens (tiny Shakespeare characters)
    max_seq_len: int = 256  # longest input; one positional embedding per position
    feed_forward: bool = False  # simplified: linear feed-forward W_F after the last layer
    mlp: bool = False  # vanilla: ReLU MLP (width 4d) in every block
    layer_norm: bool = False  # vanilla: pre-LayerNorm in every block and before the unembedding
    pos_emb: str = "random"  # positional embeddings: "random" (frozen at init) or "learned"
    freeze_embeddings: bool = False  # vanilla: keep W_E and W_U frozen at init (always frozen if simplified)
    init_seed: int = 0  # seed of every random initialization

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, KINDS)
        for name in ("n_layers", "n_heads", "d_model", "max_seq_len"):
            check_positive_int(name, getattr(self, name))
        # one token would make every prediction certain (accuracy 1, loss 0) and no logit difference possible
        check_positive_int("vocab_size", self.vocab_size, minimum=2)
        if self.d_model % self.n_heads:
            raise ValueError(f"`d_model` ({self.d_model}) must be divisible by `n_heads` ({self.n_heads})")
        check_choice("pos_emb", self.pos_emb, POS_EMBS)
        for name in ("feed_forward", "mlp", "layer_norm", "freeze_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"`{name}` must be a bool, got {type(getattr(self, name)).__name__}")
        check_seed("init_seed", self.init_seed)
        if self.kind == "simplified":
            unsupported = {"n_heads": self.n_heads != 1, "mlp": self.mlp, "layer_norm": self.layer_norm,
                           "pos_emb": self.pos_emb != "random"}
            for name, bad in unsupported.items():
                if bad:
                    raise ValueError(
                        f"`{name}`={getattr(self, name)!r} is not available for kind='simplified' "
                        "(one head, no MLP, no LayerNorm, frozen random positions)"
                    )
        elif self.feed_forward:
            raise ValueError("`feed_forward` is the simplified model's linear W_F; use `mlp` for kind='vanilla'")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


def _gaussian(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Entries N(0, 1/d) with d the last dimension: random embeddings, near-isometric matrices."""
    return torch.randn(*shape, generator=generator) / math.sqrt(shape[-1])


def _register(module: nn.Module, name: str, value: torch.Tensor, trainable: bool) -> None:
    """A trainable nn.Parameter, or a frozen (saved) buffer."""
    if trainable:
        module.register_parameter(name, nn.Parameter(value))
    else:
        module.register_buffer(name, value)


class Attention(nn.Module):
    """Causal multi-head attention with an explicit softmax; subclasses give queries, keys, values, output."""

    def __init__(self, config: ModelConfig, scale: float) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.d_head = config.d_head
        self.scale = scale
        t = config.max_seq_len
        causal = torch.full((t, t), float("-inf")).triu(1)  # 0 on and below the diagonal
        self.register_buffer("mask", causal, persistent=False)
        self.hook_pattern = HookPoint()  # (batch, heads, query, key)
        self.hook_z = HookPoint()  # (batch, query, heads, d_head)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys, values, each (batch, heads, position, d_head)."""
        raise NotImplementedError

    def out(self, z: torch.Tensor) -> torch.Tensor:
        """Mix the heads' outputs (batch, position, heads, d_head) into the residual stream."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, own_inputs: dict[int, dict[int, torch.Tensor]] | None = None) -> torch.Tensor:
        """Attention output of the (normalized) input ``x``; ``own_inputs[i][h]``: head ``h``'s own input for the
        queries (``i = 0``), keys (1) or values (2), see :meth:`Block.own_inputs`."""
        batch, seq_len, _ = x.shape
        q, k, v = self.qkv(x)
        if own_inputs:
            qkv = [q, k, v]
            for i, heads in own_inputs.items():
                qkv[i] = qkv[i].clone()
                for head, x_head in heads.items():
                    qkv[i][:, head] = self.qkv(x_head)[i][:, head]  # (batch, position, d_head)
            q, k, v = qkv
        # one fused op: scale * q k^T + causal mask, on (batch * heads, query, key)
        scores = torch.baddbmm(
            self.mask[:seq_len, :seq_len], q.flatten(0, 1), k.flatten(0, 1).transpose(1, 2), alpha=self.scale
        ).view(batch, self.n_heads, seq_len, seq_len)  # (batch, heads, query, key)
        pattern = self.hook_pattern(torch.softmax(scores, dim=-1))
        z = self.hook_z(torch.matmul(pattern, v).transpose(1, 2))  # (batch, query, heads, d_head)
        return self.out(z)


class SimplifiedAttention(Attention):
    """One head, ``W_Q = I``, trainable ``W_K``; frozen ``W_V``, trainable ``W_O`` if ``last``, else frozen ``W_OV``."""

    def __init__(self, config: ModelConfig, generator: torch.Generator, last: bool) -> None:
        super().__init__(config, scale=1.0)
        d = config.d_model
        self.W_K = nn.Parameter(_gaussian(generator, d, d))
        w_v, w_o = _gaussian(generator, d, d), _gaussian(generator, d, d)
        self.last = last
        if last:
            self.register_buffer("W_V", w_v)
            self.W_O = nn.Parameter(w_o)
        else:
            self.register_buffer("W_OV", w_o @ w_v)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w_v = self.W_V if self.last else self.W_OV
        # (batch, 1, position, d): a view with a singleton head axis
        return x.unsqueeze(1), (x @ self.W_K.T).unsqueeze(1), (x @ w_v.T).unsqueeze(1)

    def out(self, z: torch.Tensor) -> torch.Tensor:
        z = z.flatten(2)  # (batch, position, d)
        return z @ self.W_O.T if self.last else z


class VanillaAttention(Attention):
    """Learned ``W_Q, W_K, W_V`` (each ``(heads * d_head, d)``) and ``W_O`` (``(d, heads * d_head)``)."""

    def __init__(self, config: ModelConfig, generator: torch.Generator) -> None:
        super().__init__(config, scale=1.0 / math.sqrt(config.d_head))
        d = config.d_model
        for name in ("W_Q", "W_K", "W_V", "W_O"):
            self.register_parameter(name, nn.Parameter(_gaussian(generator, d, d)))

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, seq_len, d = x.shape
        qkv = x @ torch.cat([self.W_Q, self.W_K, self.W_V]).T  # (batch, position, 3 * d)
        qkv = qkv.view(batch, seq_len, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]  # each (batch, heads, position, d_head)

    def out(self, z: torch.Tensor) -> torch.Tensor:
        return z.flatten(2) @ self.W_O.T  # (batch, position, heads * d_head) -> (batch, position, d)


class MLP(nn.Module):
    """``W_out relu(W_in x)`` with hidden width ``4d``, no biases."""

    def __init__(self, d: int, generator: torch.Generator) -> None:
        super().__init__()
        self.W_in = nn.Parameter(_gaussian(generator, 4 * d, d))
        self.W_out = nn.Parameter(_gaussian(generator, d, 4 * d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.W_in.T) @ self.W_out.T


class Block(nn.Module):
    """Residual block: ``x + attn(ln1(x))``, then ``+ ff(ln2(x))`` if it has a feed-forward part."""

    def __init__(self, attn: Attention, ff: nn.Module | None, d: int, layer_norm: bool) -> None:
        super().__init__()
        self.hook_resid_pre = HookPoint()
        self.hook_q_input = HookPoint(optional=True)  # (batch, position, heads, d): computed only while hooked
        self.hook_k_input = HookPoint(optional=True)
        self.hook_v_input = HookPoint(optional=True)
        self.ln1 = nn.LayerNorm(d) if layer_norm else nn.Identity()
        self.attn = attn
        self.ln2 = nn.LayerNorm(d) if layer_norm and ff is not None else nn.Identity()
        self.ff = ff
        self.hook_attn_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        return self._after_attention(x + self.hook_attn_out(self.attn(self.ln1(x), self.own_inputs(x))))

    def own_inputs(self, x: torch.Tensor) -> dict[int, dict[int, torch.Tensor]]:
        """The normalized inputs that hooks on ``hook_{q,k,v}_input`` gave single heads, by q/k/v (0/1/2) and head.

        Each point in use receives a copy of ``x`` per head (batch, position,
        heads, d); a head whose returned input differs from ``x`` computes its
        queries (keys, values) from ``ln1`` of that input. Empty when no such
        point is in use.
        """
        own: dict[int, dict[int, torch.Tensor]] = {}
        for i, point in enumerate((self.hook_q_input, self.hook_k_input, self.hook_v_input)):
            if in_use(point):
                inputs = point(x.unsqueeze(2).repeat(1, 1, self.attn.n_heads, 1))  # (batch, position, heads, d)
                heads = {h: self.ln1(inputs[:, :, h]) for h in range(self.attn.n_heads)
                         if not torch.equal(inputs[:, :, h], x)}
                if heads:
                    own[i] = heads
        return own

    def run_from_z(self, resid_pre: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``hook_resid_post`` when the head outputs (the ``attn.hook_z`` value) are ``z``.

        Resumes ``forward`` after ``hook_z``: ``resid_pre + attn.out(z)``, then the
        feed-forward part; the attention pattern is not recomputed.
        """
        return self._after_attention(resid_pre + self.hook_attn_out(self.attn.out(z)))

    def _after_attention(self, x: torch.Tensor) -> torch.Tensor:
        if self.ff is not None:
            x = x + self.ff(self.ln2(x))
        return self.hook_resid_post(x)


class LinearFF(nn.Module):
    """The simplified model's linear feed-forward ``W_F`` (applied as ``h + W_F h``)."""

    def __init__(self, d: int, generator: torch.Generator) -> None:
        super().__init__()
        self.W_F = nn.Parameter(_gaussian(generator, d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W_F.T


class Transformer(nn.Module):
    """A lab transformer (simplified or vanilla, see the module docstring); build it with :func:`build_model`.

    ``forward(inputs)`` = ``run_from(0, embed(inputs))``; ``run_from(l, resid)``
    runs blocks ``l, l+1, ...`` and the unembedding, so an intervention at layer
    ``l`` can reuse a clean residual stream computed once.

    References
    ----------
    Bietti, A., Cabannes, V., Bouchacourt, D., Jegou, H. and Bottou, L. (2023). Birth of a
    Transformer: A Memory Viewpoint. NeurIPS; arXiv:2306.00802, sections 2 and 4.2.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"`config` must be a ModelConfig, got {type(config).__name__}")
        d, layers = config.d_model, config.n_layers  # before: d_model=10**6 died in torch's allocator
        check_memory([Need("the weights", (("d_model", d), ("n_layers", layers)),
                           FLOAT * (13 * layers * d * d + (2 * config.vocab_size + config.max_seq_len) * d))])
        self.config = config
        gen = torch.Generator().manual_seed(config.init_seed)
        d, v = config.d_model, config.vocab_size
        simplified = config.kind == "simplified"
        learn_embeddings = not simplified and not config.freeze_embeddings
        _register(self, "W_E", _gaussian(gen, v, d), learn_embeddings)
        _register(self, "W_pos", _gaussian(gen, config.max_seq_len, d), config.pos_emb == "learned")
        _register(self, "W_U", _gaussian(gen, v, d), learn_embeddings)
        self.hook_embed = HookPoint()
        self.hook_pos_embed = HookPoint()
        blocks = []
        for layer in range(config.n_layers):
            last = layer == config.n_layers - 1
            if simplified:
                attn = SimplifiedAttention(config, gen, last=last)
                ff = LinearFF(d, gen) if last and config.feed_forward else None
            else:
                attn = VanillaAttention(config, gen)
                ff = MLP(d, gen) if config.mlp else None
            blocks.append(Block(attn, ff, d, config.layer_norm))
        self.blocks = nn.ModuleList(blocks)
        self.ln_final = nn.LayerNorm(d) if config.layer_norm else nn.Identity()

    @property
    def n_layers(self) -> int:
        return self.config.n_layers

    @property
    def n_heads(self) -> int:
        return self.config.n_heads

    @property
    def d_head(self) -> int:
        return self.config.d_head

    @property
    def d_model(self) -> int:
        return self.config.d_model

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def max_len(self) -> int:
        return self.config.max_seq_len

    def hook_name(self, point: str, layer: int) -> str:
        """TransformerLens name of ``point`` (see :data:`causalattn.lab.models.contract.POINTS`) in block ``layer``.

        Examples
        --------
        >>> build_model(ModelConfig(d_model=32, max_seq_len=16)).hook_name("pattern", 0)
        'blocks.0.attn.hook_pattern'
        """
        return transformer_lens_name(point, layer, self.config.n_layers)

    def attn_out(self, layer: int, z: torch.Tensor) -> torch.Tensor:
        """Attention output (batch, position, d) of block ``layer`` for head outputs ``z`` (batch, position, heads,
        d_head): ``W_O`` applied to the concatenated heads, no hook applied."""
        return self.blocks[check_layer(layer, self.config.n_layers)].attn.out(z)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """Residual stream before the first block: ``W_E[z_t] + W_pos[t]``, shape (batch, position, d)."""
        inputs = self._check_inputs(inputs)
        return self.hook_embed(self.W_E[inputs]) + self.hook_pos_embed(self.W_pos[: inputs.shape[1]])

    def run_from(self, layer: int, resid_pre: torch.Tensor, *, where: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (batch, position, vocab) from the residual stream entering block ``layer`` (0..n_layers).

        With ``where``, a (batch, position) bool mask, the logits at those
        positions only, (n, vocab) in row-major order: the final layer norm and
        the unembedding run on them alone.
        """
        x = check_activation("resid_pre", resid_pre, (None, None, self.config.d_model))
        where = check_where(where, resid_pre)
        for block in self.blocks[check_layer(layer, self.config.n_layers + 1):]:
            x = block(x)
        return self.ln_final(x if where is None else x[where]) @ self.W_U.T

    def run_from_z(self, layer: int, resid_pre: torch.Tensor, z: torch.Tensor, *,
                   where: torch.Tensor | None = None) -> torch.Tensor:
        """Logits when block ``layer`` gets ``resid_pre`` and its head outputs (``hook_z``) are ``z``.

        ``z`` has shape (batch, position, heads, d_head); ``resid_pre`` is the clean
        ``blocks.{layer}.hook_resid_pre``, so an intervention on ``hook_z`` alone need
        not recompute the attention pattern of that layer. ``where`` as in :meth:`run_from`.
        """
        layer = check_layer(layer, self.config.n_layers)
        batch, length, _ = check_activation("resid_pre", resid_pre, (None, None, self.config.d_model)).shape
        check_activation("z", z, (batch, length, self.n_heads, self.d_head))
        return self.run_from(layer + 1, self.blocks[layer].run_from_z(resid_pre, z), where=where)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Next-token logits (batch, position, vocab) for (batch, position) long ``inputs``.

        A simplified model with no hook attached takes the fused path of
        :meth:`logits_at` (same logits up to float rounding); otherwise every
        hook point is computed explicitly.
        """
        if self._fused():
            return fused_logits(self, self._check_inputs(inputs), None)
        return self.run_from(0, self.embed(inputs))

    def logits_at(self, inputs: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        r"""Next-token logits at the positions where ``where`` is True: ``self(inputs)[where]``, shape (n, vocab).

        Rows follow the row-major order of ``where``. When only these positions
        matter (the in-context loss), a simplified model with no hook attached
        takes the fused path of :func:`causalattn.lab.models.fused.fused_logits`,
        which skips most of the work of the last layer.

        The result and its gradients equal the explicit computation
        (``run_from(0, embed(inputs))[where]``) up to float rounding. With a
        hook attached (anywhere in the model) or a vanilla model, this is
        ``self(inputs)[where]``, every hook point computed.

        Parameters
        ----------
        inputs : torch.Tensor
            (batch, position) long tokens.
        where : torch.Tensor
            (batch, position) bool, the positions whose logits are wanted.

        Examples
        --------
        >>> import torch
        >>> model = build_model(ModelConfig(d_model=32, max_seq_len=16))
        >>> tokens = torch.randint(0, 65, (2, 16), generator=torch.Generator().manual_seed(0))
        >>> where = tokens < 20
        >>> logits = model.logits_at(tokens, where)
        >>> logits.shape == (int(where.sum()), 65)
        True
        >>> torch.allclose(logits, model.run_from(0, model.embed(tokens))[where], atol=1e-5)
        True
        """
        inputs = self._check_inputs(inputs)
        if not isinstance(where, torch.Tensor) or where.dtype != torch.bool or where.shape != inputs.shape:
            raise ValueError(f"`where` must be a bool tensor of the shape of `inputs` {tuple(inputs.shape)}, "
                             f"got {describe(where)}")
        if self._fused():
            return fused_logits(self, inputs, where)
        return self(inputs)[where]

    def _fused(self) -> bool:
        """Whether the fused path may run: a simplified model with no hook attached to any module."""
        return self.config.kind == "simplified" and not has_hooks(self)

    def _check_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        return check_tokens(inputs, self.config.vocab_size, self.config.max_seq_len, name="inputs")

    def aliases(self) -> dict[str, str]:
        """Paper names of the trainable matrices (``W1_K`` ... ``W_F``) -> ``named_parameters()`` names."""
        params = dict(self.named_parameters())
        names = {}
        for layer in range(self.config.n_layers):
            for m in ("Q", "K", "V", "O"):
                full = f"blocks.{layer}.attn.W_{m}"
                if full in params:
                    names[f"W{layer + 1}_{m}"] = full
        w_f = f"blocks.{self.config.n_layers - 1}.ff.W_F"
        if w_f in params:
            names["W_F"] = w_f
        return names

    def parameter_by_name(self, name: str) -> nn.Parameter:
        """The nn.Parameter called ``name``: a paper alias (``W1_K``, ``W2_O``, ``W_F`` ...) or a full name."""
        params = dict(self.named_parameters())
        aliases = self.aliases()
        full = aliases.get(name, name)
        if full not in params:
            raise ValueError(
                f"`name` {name!r} is not a parameter of this model; valid: {sorted(aliases)} or {sorted(params)}"
            )
        return params[full]


def build_model(config: ModelConfig = ModelConfig()) -> Transformer:
    """A lab transformer for ``config``, initialized from ``config.init_seed``.

    Examples
    --------
    >>> import torch
    >>> model = build_model(ModelConfig(d_model=32, max_seq_len=16))
    >>> model(torch.zeros(2, 16, dtype=torch.long)).shape
    torch.Size([2, 16, 65])
    >>> sorted(model.aliases())
    ['W1_K', 'W2_K', 'W2_O']
    """
    return Transformer(config)

"""Message passing in chunks of edges, for energy and forces (first derivatives).

The plain path of `Interaction` builds per-edge tensors for the whole graph (radial MLP
activations, path weights, coupled features, messages) and autograd keeps them for the
backward pass, so memory grows with the number of edges times the channels: too much for
cells of 10^5 atoms (docs/performance.md, "Memory", has the figures).

`chunked_edge_sum` evaluates a per-edge function chunk by chunk and sums the results into
the receivers, keeping nothing per edge for the backward pass but its inputs: the backward
pass recomputes one chunk at a time and differentiates it with autograd (gradient
checkpointing, by hand so that gradients of the shared node features are accumulated in
place instead of through a full-size tensor per chunk). The result equals the plain path
to rounding and memory is linear in atoms with a small constant; the price is one more
forward evaluation of the edge function, so small graphs skip it.

The backward is first-order only (``once_differentiable``): use the plain path when the
graph of the derivatives is needed (training on forces, Hessians).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from .edges import EdgeContext

__all__ = ["CHUNK_ABOVE_EDGES", "DEFAULT_EDGE_CHUNK", "EdgeFunction", "chunked_edge_sum"]

#: edges per chunk: large enough that the per-op overhead of autograd's recomputation is
#: small, small enough that a chunk's tensors stay small (docs/performance.md, "Memory")
DEFAULT_EDGE_CHUNK = 2048

#: graphs with at most this many edges are summed in one piece: recomputing the chunks
#: costs CPU time, worth it only once the one-piece memory starts to matter
CHUNK_ABOVE_EDGES = 32768

#: ``(sent [e, C, d_in], harmonics [e, ...], radial [e, ...], envelope [e], *parameters)
#: -> messages [e, C, d_out]``: the edge inputs are those of `EdgeContext.per_edge`
EdgeFunction = Callable[..., Tensor]


def _wanted(node: torch.autograd.graph.Node | None) -> bool:
    """Whether the running backward pass will run ``node`` (the grad_fn of an input).

    ``ctx.needs_input_grad`` only says that an input requires grad; forces never need the
    gradients of the weights, and skipping them saves much of the work. Pass parameters
    as views (``p.view_as(p)``): the engine can only be asked about non-leaf nodes."""
    return True if node is None else bool(torch._C._will_engine_execute_node(node))


class _ChunkedEdgeSum(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        function: EdgeFunction,
        senders: Tensor,
        receivers: Tensor,
        chunk: int,
        num_edge_inputs: int,
        features: Tensor,
        *tensors: Tensor,
    ) -> Tensor:
        edge_inputs, parameters = tensors[:num_edge_inputs], tensors[num_edge_inputs:]
        out: Tensor | None = None
        for start in range(0, senders.shape[0], chunk):
            part = slice(start, start + chunk)
            sent = features.index_select(0, senders[part])
            messages = function(sent, *(x[part] for x in edge_inputs), *parameters)
            if out is None:
                out = messages.new_zeros(features.shape[0], *messages.shape[1:])
            out.index_add_(0, receivers[part], messages)
        if out is None:  # no edges: the shape of the messages comes from one empty call
            empty = function(features[:0], *(x[:0] for x in edge_inputs), *parameters)
            out = empty.new_zeros(features.shape[0], *empty.shape[1:])
        ctx.function, ctx.chunk, ctx.num_edge_inputs = function, chunk, num_edge_inputs
        ctx.parameter_nodes = [p.grad_fn for p in parameters]
        ctx.save_for_backward(senders, receivers, features, *tensors)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        senders, receivers, features, *tensors = ctx.saved_tensors
        edge_inputs, parameters = tensors[: ctx.num_edge_inputs], tensors[ctx.num_edge_inputs :]
        want_features = ctx.needs_input_grad[5]
        want_edge = ctx.needs_input_grad[6 : 6 + len(edge_inputs)]
        want_parameters = [
            asked and _wanted(node) for asked, node in zip(ctx.needs_input_grad[6 + len(edge_inputs) :], ctx.parameter_nodes)
        ]
        grad_features = torch.zeros_like(features) if want_features else None
        grad_edge = [torch.empty_like(x) if want else None for x, want in zip(edge_inputs, want_edge)]
        grad_parameters = [torch.zeros_like(p) if want else None for p, want in zip(parameters, want_parameters)]
        leaf_parameters = [p.detach().requires_grad_(want) for p, want in zip(parameters, want_parameters)]
        for start in range(0, senders.shape[0], ctx.chunk):
            part = slice(start, start + ctx.chunk)
            with torch.enable_grad():
                sent = features.detach().index_select(0, senders[part]).requires_grad_(want_features)
                edge_chunk = [x[part].detach().requires_grad_(want) for x, want in zip(edge_inputs, want_edge)]
                messages = ctx.function(sent, *edge_chunk, *leaf_parameters)
                leaves = [sent, *edge_chunk, *leaf_parameters]
                wanted = [leaf for leaf in leaves if leaf.requires_grad]
                if not wanted:
                    continue
                grads = iter(torch.autograd.grad(messages, wanted, grad_out.index_select(0, receivers[part])))
            if want_features:
                grad_features.index_add_(0, senders[part], next(grads))
            for target, want in zip(grad_edge, want_edge):
                if want:
                    target[part] = next(grads)
            for target, want in zip(grad_parameters, want_parameters):
                if want:
                    target += next(grads)
        return None, None, None, None, None, grad_features, *grad_edge, *grad_parameters


def chunked_edge_sum(
    function: EdgeFunction,
    features: Tensor,
    edges: EdgeContext,
    parameters: Sequence[Tensor],
    chunk: int | None = None,
) -> Tensor:
    """``out[i] = sum over edges e into i of function(features[senders[e]], per_edge[e], parameters)``.

    ``features`` [n_atoms, ...] are gathered by ``edges.senders``; the per-edge inputs are
    `EdgeContext.per_edge` (harmonics, radial basis, envelope), sliced along with the
    edges; ``parameters`` are passed whole (pass learned parameters as views,
    ``p.view_as(p)``, so the backward pass can skip their gradients when only forces are
    asked for). Returns [n_atoms, *message shape], summed into ``edges.receivers``.
    Differentiable once (see the module docstring). ``chunk`` edges at a time (default
    `DEFAULT_EDGE_CHUNK`); graphs of at most `CHUNK_ABOVE_EDGES` edges (or one chunk) are
    summed in one plain autograd evaluation.
    """
    chunk = DEFAULT_EDGE_CHUNK if chunk is None else chunk
    senders, receivers, edge_inputs = edges.senders, edges.receivers, edges.per_edge
    if senders.shape[0] <= max(chunk, CHUNK_ABOVE_EDGES):
        messages = function(features.index_select(0, senders), *edge_inputs, *parameters)
        return messages.new_zeros(features.shape[0], *messages.shape[1:]).index_add(0, receivers, messages)
    return _ChunkedEdgeSum.apply(
        function, senders, receivers, chunk, len(edge_inputs), features, *edge_inputs, *parameters
    )

using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace RoRecomp.Model.Transformer;

/// <summary>
/// Activation checkpointing of one <see cref="DecoderLayer"/> (PyTorch's reentrant <c>torch.utils.checkpoint</c>,
/// which TorchSharp 0.107 lacks, built on its custom autograd <see cref="SingleTensorFunction{T}"/>).
/// <para>
/// Forward runs the layer without a graph and saves only its inputs. Backward runs the layer again with a graph on a
/// detached copy of the input and back-propagates the incoming gradient through it: the layer's parameter gradients
/// accumulate into their <c>.grad</c> as usual, and the input's gradient is returned to the outer graph. The model has
/// no dropout, so the recomputation is exact.
/// </para>
/// <para>
/// Dispose rule (see <c>TorchRuntime</c>'s remarks): everything made in backward lives in a dispose scope; the
/// returned gradient moves to the caller's scope (on CPU, backward runs on the thread that called <c>backward()</c>,
/// inside the trainer's scope) and is also held by the node's context until libtorch has copied it and freed the
/// node, so it is never unreachable while libtorch reads it. The incoming gradient's wrapper, which TorchSharp made
/// for this call, is disposed here after use.
/// </para>
/// </summary>
internal sealed class CheckpointedLayer : SingleTensorFunction<CheckpointedLayer>
{
    private const string LayerKey = "layer";
    private const string FusedKey = "sdpa";
    private const string KeepKey = "keep";

    /// <inheritdoc />
    public override string Name => nameof(CheckpointedLayer);

    /// <summary>Arguments: x, cos, sin, mask (tensors), the <see cref="DecoderLayer"/>, scaled-dot-product flag.</summary>
    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        var (x, cos, sin, mask) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3]);
        var layer = (DecoderLayer)vars[4];
        var fused = (bool)vars[5];
        ctx.save_for_backward([x, cos, sin, mask]);
        ctx.save_data(LayerKey, layer);
        ctx.save_data(FusedKey, fused);
        return layer.Forward(x, cos, sin, mask, null, 0, fused);
    }

    /// <summary>Recomputes the layer with a graph and back-propagates <paramref name="grad_output"/> through it.</summary>
    public override List<Tensor> backward(AutogradContext ctx, Tensor grad_output)
    {
        var layer = (DecoderLayer)ctx.get_data(LayerKey);
        var fused = (bool)ctx.get_data(FusedKey);
        Tensor dx;
        using (var scope = NewDisposeScope())
        {
            var saved = ctx.get_saved_variables();
            using (enable_grad())
            {
                var x = saved[0].detach().requires_grad_(true);
                var y = layer.Forward(x, saved[1], saved[2], saved[3], null, 0, fused);
                autograd.backward([y], [grad_output]);
                dx = x.grad ?? throw new InvalidOperationException("checkpointed layer: no gradient reached the layer input");
            }
            dx.MoveToOuterDisposeScope();
        }
        ctx.save_data(KeepKey, new List<Tensor> { dx });
        grad_output.Dispose();
        // One gradient per forward argument: x, then none for cos, sin, mask, the layer and the flag.
        return [dx, null!, null!, null!, null!, null!];
    }
}

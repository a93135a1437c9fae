using RoRecomp.Model.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RoRecomp.Model.Training;

/// <summary>
/// AdamW (decoupled weight decay) over named parameters, written out so that its state is plain named tensors that a
/// checkpoint saves and restores exactly: <c>exp_avg.&lt;param&gt;</c>, <c>exp_avg_sq.&lt;param&gt;</c> and <c>step</c>.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly List<(string Name, Parameter Param, Tensor M, Tensor V)> _state = [];

    /// <summary>Creates zeroed moments for every parameter that requires a gradient.</summary>
    public AdamW(IEnumerable<(string Name, Parameter Param)> parameters, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.0)
    {
        (Beta1, Beta2, Eps, WeightDecay) = (beta1, beta2, eps, weightDecay);
        foreach (var (name, p) in parameters)
        {
            if (!p.requires_grad) continue;
            _state.Add((name, p, zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope()));
        }
    }

    public double Beta1 { get; }

    public double Beta2 { get; }

    public double Eps { get; }

    public double WeightDecay { get; }

    /// <summary>Updates taken so far.</summary>
    public long StepCount { get; private set; }

    /// <summary>The parameters it updates.</summary>
    public IEnumerable<Parameter> Parameters => _state.Select(s => s.Param);

    /// <summary>Clears every gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p, _, _) in _state)
        {
            using var grad = p.grad;   // a new wrapper per call: disposed here, not left to the finalizer
            grad?.zero_();
        }
    }

    /// <summary>One update at learning rate <paramref name="lr"/>; parameters without a gradient are skipped.</summary>
    public void Step(double lr)
    {
        StepCount++;
        var bc1 = 1 - Math.Pow(Beta1, StepCount);
        var bc2 = 1 - Math.Pow(Beta2, StepCount);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var k = new ScalarScope();
        Scalar decay = k.Of(1 - (lr * WeightDecay)), beta1 = k.Of(Beta1), beta2 = k.Of(Beta2), oneMinusBeta1 = k.Of(1 - Beta1),
            oneMinusBeta2 = k.Of(1 - Beta2), correction2 = k.Of(bc2), eps = k.Of(Eps), stepSize = k.Of(-lr / bc1);
        foreach (var (_, p, m, v) in _state)
        {
            var g = p.grad;
            if (g is null) continue;
            if (WeightDecay > 0) p.mul_(decay);
            m.mul_(beta1).add_(g, alpha: oneMinusBeta1);
            v.mul_(beta2).addcmul_(g, g, value: oneMinusBeta2);
            var denom = (v / correction2).sqrt_().add_(eps, ScalarScope.One);
            p.addcdiv_(m, denom, value: stepSize);
        }
    }

    /// <summary>The state as named tensors (views of the live state: serialise before the next step).</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal) { ["step"] = tensor(new[] { StepCount }) };
        foreach (var (name, _, m, v) in _state)
        {
            d[$"exp_avg.{name}"] = m;
            d[$"exp_avg_sq.{name}"] = v;
        }
        return d;
    }

    /// <summary>Restores a state written by <see cref="StateDict"/>; a missing or misshapen entry is refused naming it.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        if (!state.TryGetValue("step", out var step)) throw new ArgumentException("optimizer state has no 'step'");
        using var noGrad = no_grad();
        foreach (var (name, _, m, v) in _state)
        {
            foreach (var (key, target) in new[] { ($"exp_avg.{name}", m), ($"exp_avg_sq.{name}", v) })
            {
                if (!state.TryGetValue(key, out var src)) throw new ArgumentException($"optimizer state has no '{key}'");
                if (!src.shape.SequenceEqual(target.shape)) throw new ArgumentException($"optimizer state '{key}' has shape [{string.Join(", ", src.shape)}], expected [{string.Join(", ", target.shape)}]");
                target.copy_(src);
            }
        }
        using var step64 = step.to(ScalarType.Int64);
        StepCount = step64.item<long>();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (_, _, m, v) in _state)
        {
            m.Dispose();
            v.Dispose();
        }
        _state.Clear();
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace RoRecomp.Model.Runtime;

/// <summary>
/// Explicit <see cref="Scalar"/>s for tensor operations, kept reachable until the scope is disposed, then freed.
/// <para>
/// TorchSharp 0.107 turns a number given to a tensor operation (<c>x + 1e-6</c>, <c>m.mul_(0.9)</c>, <c>masked_fill(mask,
/// -inf)</c>) into a temporary native <see cref="Scalar"/> that no dispose scope tracks (dotnet/TorchSharp#1496). Once the
/// operation has read its pointer the temporary is unreachable, and a garbage collection on another thread can finalize
/// it, freeing the native scalar while libtorch still reads it: a failed check (<c>Expected false to be true ... toFloat</c>)
/// or a segfault, rarely and at random (see <see cref="TorchRuntime"/>'s remarks). Every number the project's code hands
/// to a tensor operation therefore goes through <see cref="Of(double)"/> of a scope that outlives the operation:
/// <code>using var k = new ScalarScope(); var y = x * rsqrt((x * x).mean([-1], keepdim: true).add(k.Of(eps), ScalarScope.One));</code>
/// TorchSharp itself makes such a temporary in a few methods: <c>add</c>/<c>add_</c> without an <c>alpha</c> (so also the
/// <c>+</c> operator) and <c>square()</c> (<c>pow(2)</c>). The project's code calls <see cref="Add"/> (or passes
/// <see cref="One"/> as alpha) and writes <c>x * x</c> instead.
/// </para>
/// </summary>
public sealed class ScalarScope : IDisposable
{
    private readonly List<Scalar> _held = [];

    /// <summary>The scalar 1 (int64), alive for the whole process (a static root is never finalized).</summary>
    public static Scalar One { get; } = CreateOne();

    /// <summary><c>a + b</c> without TorchSharp's temporary <c>alpha = 1</c>.</summary>
    public static Tensor Add(Tensor a, Tensor b) => a.add(b, One);

    /// <summary>A float64 scalar (what TorchSharp's implicit conversion of a <see cref="double"/> makes).</summary>
    public Scalar Of(double value) => Keep(value.ToScalar());

    /// <summary>A float32 scalar (what TorchSharp's implicit conversion of a <see cref="float"/> makes).</summary>
    public Scalar Of(float value) => Keep(value.ToScalar());

    /// <summary>An int64 scalar (what TorchSharp's implicit conversion of an integer makes).</summary>
    public Scalar Of(long value) => Keep(value.ToScalar());

    private static Scalar CreateOne()
    {
        TorchRuntime.EnsureLoaded();
        return 1L.ToScalar();
    }

    private Scalar Keep(Scalar s)
    {
        _held.Add(s);
        return s;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var s in _held) s.Dispose();
        _held.Clear();
    }
}

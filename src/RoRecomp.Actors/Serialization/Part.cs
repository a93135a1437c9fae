namespace RoRecomp.Actors.Serialization;

/// <summary>
/// How one type's fields are written and read, side by side so their field numbers are declared in one place. Used for
/// a top-level message's body (see <see cref="Codec"/>) and for a payload nested in other messages.
/// </summary>
/// <param name="Write">Writes every field of the value with its field number.</param>
/// <param name="Read">Builds the value from the fields, by number.</param>
internal sealed record Part<T>(Action<TaggedWriter, T> Write, Func<TaggedReader, T> Read);

/// <summary>One registered message type: its manifest (stored in journals: never change it), type version and fields.</summary>
internal abstract class Codec
{
    /// <summary>The manifest string.</summary>
    public abstract string Manifest { get; }

    /// <summary>The CLR type (exact; every registered type is sealed).</summary>
    public abstract Type Type { get; }

    /// <summary>The type version written now. Bump it only when a field's meaning changes, and branch on <see cref="TaggedReader.Version"/>.</summary>
    public abstract int Version { get; }

    /// <summary>Whether journals of the positional v1 format hold this type (then <see cref="ReadV1"/> reads it).</summary>
    public abstract bool ReadsV1 { get; }

    /// <summary>Writes the body.</summary>
    public abstract void Write(TaggedWriter writer, object value);

    /// <summary>Reads a tagged body.</summary>
    public abstract object Read(TaggedReader reader);

    /// <summary>Reads a positional v1 body (journaled types only).</summary>
    public abstract object ReadV1(V1Reader reader);
}

/// <summary>The <see cref="Codec"/> of <typeparamref name="T"/>.</summary>
internal sealed class Codec<T>(string manifest, int version, Part<T> body, Func<V1Reader, T>? v1) : Codec
    where T : class
{
    /// <inheritdoc />
    public override string Manifest => manifest;

    /// <inheritdoc />
    public override Type Type => typeof(T);

    /// <inheritdoc />
    public override int Version => version;

    /// <inheritdoc />
    public override bool ReadsV1 => v1 is not null;

    /// <inheritdoc />
    public override void Write(TaggedWriter writer, object value) => body.Write(writer, (T)value);

    /// <inheritdoc />
    public override object Read(TaggedReader reader) => body.Read(reader);

    /// <inheritdoc />
    public override object ReadV1(V1Reader reader) => (v1 ?? throw new InvalidOperationException($"{manifest} has no v1 reader"))(reader);
}

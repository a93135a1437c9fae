namespace RoRecomp.Settings;

/// <summary>
/// The HOCON names of an enum's members, in kebab case (<c>ToolCallsThenTokens</c> = <c>tool-calls-then-tokens</c>):
/// the allowed values of a key come from the enum Core dispatches on, never from a copy.
/// </summary>
public static class SettingNames
{
    /// <summary>The names of <typeparamref name="TEnum"/>'s members, in declaration order.</summary>
    public static string[] Of<TEnum>()
        where TEnum : struct, Enum => [.. Enum.GetValues<TEnum>().Select(v => Name(v))];

    /// <summary>The kebab-case name of <paramref name="value"/>.</summary>
    public static string Name<TEnum>(TEnum value)
        where TEnum : struct, Enum
    {
        var name = value.ToString();
        var sb = new System.Text.StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) sb.Append('-');
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }

    /// <summary>The member of <typeparamref name="TEnum"/> called <paramref name="name"/> (a name the loader accepted).</summary>
    public static TEnum Parse<TEnum>(string name)
        where TEnum : struct, Enum
    {
        foreach (var v in Enum.GetValues<TEnum>())
        {
            if (Name(v) == name) return v;
        }
        throw new ArgumentException($"'{name}' is not one of {string.Join(" | ", Of<TEnum>())}", nameof(name));
    }
}

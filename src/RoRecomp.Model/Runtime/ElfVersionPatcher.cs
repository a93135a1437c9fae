using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace RoRecomp.Model.Runtime;

/// <summary>
/// Reads and edits the symbol-version requirements (<c>.gnu.version_r</c>, SHT_GNU_verneed) of a 64-bit
/// little-endian ELF shared library. Used only by <see cref="TorchRuntime"/>.
/// </summary>
internal static class ElfVersionPatcher
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    private readonly record struct Aux(int FlagsOffset, string Name);

    /// <summary>Every version name the library requires (e.g. GLIBCXX_3.4.32).</summary>
    public static IReadOnlyList<string> RequiredVersions(byte[] elf) => ReadAux(elf).Select(a => a.Name).ToList();

    /// <summary>Marks the named version requirements weak, in place. Returns how many entries were changed.</summary>
    public static int MarkWeak(byte[] elf, IReadOnlyCollection<string> versions)
    {
        var changed = 0;
        foreach (var aux in ReadAux(elf).Where(a => versions.Contains(a.Name)))
        {
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(aux.FlagsOffset));
            BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(aux.FlagsOffset), (ushort)(flags | VerFlgWeak));
            changed++;
        }
        return changed;
    }

    /// <summary>A patched copy in a per-user cache folder, keyed by the original's content hash; written atomically.</summary>
    public static string GetOrCreatePatchedCopy(string original, IReadOnlyCollection<string> versions)
    {
        var bytes = File.ReadAllBytes(original);
        var key = Convert.ToHexString(SHA256.HashData(bytes))[..16].ToLowerInvariant();
        var dir = Path.Combine(Path.GetTempPath(), "rorecomp-native", key);
        var target = Path.Combine(dir, "libLibTorchSharp.so");
        if (File.Exists(target)) return target;
        Directory.CreateDirectory(dir);
        if (MarkWeak(bytes, versions) == 0)
            throw new TorchRuntimeException($"{original}: none of the version requirements {string.Join(", ", versions)} was found in .gnu.version_r.");
        var temp = Path.Combine(dir, $".{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, target, overwrite: true);
        return target;
    }

    private static List<Aux> ReadAux(byte[] elf)
    {
        var span = elf.AsSpan();
        if (elf.Length < 64 || span[0] != 0x7f || span[1] != (byte)'E' || span[2] != (byte)'L' || span[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (span[4] != 2 || span[5] != 1)
            throw new InvalidDataException("only 64-bit little-endian ELF is supported");
        var shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        var shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        var shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);
        var result = new List<Aux>();
        for (var i = 0; i < shnum; i++)
        {
            var sh = span[(int)(shoff + (long)i * shentsize)..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(sh[4..]) != ShtGnuVerneed) continue;
            var offset = (int)BinaryPrimitives.ReadUInt64LittleEndian(sh[24..]);
            var link = (int)BinaryPrimitives.ReadUInt32LittleEndian(sh[40..]);
            var count = (int)BinaryPrimitives.ReadUInt32LittleEndian(sh[44..]);
            var strSh = span[(int)(shoff + (long)link * shentsize)..];
            var strOffset = (int)BinaryPrimitives.ReadUInt64LittleEndian(strSh[24..]);
            var vn = offset;
            for (var n = 0; n < count; n++)
            {
                var cnt = BinaryPrimitives.ReadUInt16LittleEndian(span[(vn + 2)..]);
                var auxOff = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(vn + 8)..]);
                var next = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(vn + 12)..]);
                var a = vn + auxOff;
                for (var k = 0; k < cnt; k++)
                {
                    var nameOff = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(a + 8)..]);
                    result.Add(new Aux(a + 4, ReadCString(span, strOffset + nameOff)));
                    var anext = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(a + 12)..]);
                    if (anext == 0) break;
                    a += anext;
                }
                if (next == 0) break;
                vn += next;
            }
        }
        return result;
    }

    private static string ReadCString(ReadOnlySpan<byte> span, int offset)
    {
        var end = span[offset..].IndexOf((byte)0);
        return Encoding.ASCII.GetString(span.Slice(offset, end));
    }
}

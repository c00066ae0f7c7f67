namespace Mesh.Client.Internal;

/// <summary>
/// A hash that is the same in every process (unlike <see cref="string.GetHashCode()"/>), so every client of a
/// service builds the same hash ring and a key lands on the same endpoint whoever sends it.
/// </summary>
internal static class StableHash
{
    public static ulong Hash(ReadOnlySpan<char> text)
    {
        // FNV-1a over the UTF-16 code units, then a 64-bit finalizer (from MurmurHash3) to spread the bits,
        // because FNV alone clusters keys that differ only in their last characters ("a#1", "a#2").
        var h = 14695981039346656037UL;
        foreach (var c in text)
        {
            h ^= c;
            h *= 1099511628211UL;
        }

        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53UL;
        h ^= h >> 33;
        return h;
    }
}

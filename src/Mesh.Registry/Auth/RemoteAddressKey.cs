using System.Buffers.Binary;
using System.Net;

namespace Mesh.Registry;

/// <summary>
/// A remote address as a dictionary key, without allocating: an IPv4 address (or an IPv4-mapped IPv6 one) as itself,
/// an IPv6 address by its /64 prefix (one host commonly holds a whole /64, so counting single IPv6 addresses would let
/// one client count as billions).
/// </summary>
internal readonly record struct RemoteAddressKey(ulong High, ulong Low)
{
    public static RemoteAddressKey Of(IPAddress? address)
    {
        if (address is null)
        {
            return default;
        }

        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var written))
        {
            return default;
        }

        if (written == 4)
        {
            return new RemoteAddressKey(0, 0xFFFF_0000_0000UL | BinaryPrimitives.ReadUInt32BigEndian(bytes));
        }

        var high = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        var low = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        return high == 0 && (low >> 32) == 0xFFFF ? new RemoteAddressKey(0, low) : new RemoteAddressKey(high, 0);
    }
}

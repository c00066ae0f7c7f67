namespace Mesh.Testing;

/// <summary>An etcd member found one of its ports taken by another process after they were chosen.</summary>
internal sealed class EtcdPortTakenException : Exception
{
    public EtcdPortTakenException()
    {
    }

    public EtcdPortTakenException(string message)
        : base(message)
    {
    }

    public EtcdPortTakenException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

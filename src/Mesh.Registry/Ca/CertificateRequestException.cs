namespace Mesh.Registry.Ca;

/// <summary>Why a certificate request was refused: the status to answer and a message safe to show the caller.</summary>
internal sealed class CertificateRequestException(int status, string field, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Field { get; } = field;
}

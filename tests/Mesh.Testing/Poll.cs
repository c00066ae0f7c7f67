namespace Mesh.Testing;

/// <summary>Waits for a condition by polling with a deadline: never a bare sleep.</summary>
public static class Poll
{
    public static async Task UntilAsync(Func<bool> condition, TimeSpan? timeout = null, string? because = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Condition not met in time{(because is null ? string.Empty : ": " + because)}");
            }

            await Task.Delay(10);
        }
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, string? because = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Condition not met in time{(because is null ? string.Empty : ": " + because)}");
            }

            await Task.Delay(10);
        }
    }
}

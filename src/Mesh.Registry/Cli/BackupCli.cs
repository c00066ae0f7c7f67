using System.CommandLine;
using System.Globalization;
using Mesh.Registry.Store.Sqlite;
using Microsoft.Data.Sqlite;

namespace Mesh.Registry.Cli;

/// <summary>
/// <c>mesh-registry backup --data-path &lt;db&gt; --to &lt;file&gt;</c>: a consistent copy of the SQLite store through SQLite's
/// online backup, safe while a registry process runs and writes (WAL): the copy is one read transaction's view, so it
/// holds every write committed before the copy began and none half-way. The copy is written beside <c>--to</c> under a
/// temporary name, checked, and only then renamed into place, so a failed backup never leaves a file that looks whole.
/// </summary>
/// <remarks>Exit codes: 0 done; 1 refused (<c>--to</c> exists and <c>--force</c> was not given); 2 bad usage, or the data
/// path is missing or not a registry database; 3 the backup failed (SQLite or the file system).</remarks>
internal static class BackupCli
{
    public const int Ok = 0;
    public const int Refused = 1;
    public const int Usage = 2;
    public const int Failed = 3;

    /// <summary>The registry's own <c>MeshRegistry:DataPath</c> as an environment variable, the default of <c>--data-path</c>.</summary>
    public const string DataPathVariable = "MeshRegistry__DataPath";

    public static Command Create(TextWriter output, TextWriter error, Func<string, string?> environment)
    {
        var dataPath = new Option<string?>("--data-path")
        {
            Description = $"The registry's SQLite file, MeshRegistry:DataPath (default: ${DataPathVariable}, else {new RegistryOptions().DataPath})",
        };
        var to = new Option<FileInfo>("--to") { Description = "The backup file to write", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace --to when it exists" };
        var backup = new Command("backup", "Copy the SQLite store to a file, safely while the registry runs (SQLite's online backup)") { dataPath, to, force };
        backup.SetAction(parse => Run(parse.GetValue(dataPath) ?? environment(DataPathVariable) ?? new RegistryOptions().DataPath,
            parse.GetValue(to)!.FullName, parse.GetValue(force), output, error));
        return backup;
    }

    private static int Run(string dataPath, string to, bool force, TextWriter output, TextWriter error)
    {
        var source = Path.GetFullPath(dataPath);
        if (!File.Exists(source))
        {
            error.WriteLine($"--data-path: {source} does not exist");
            return Usage;
        }

        if (string.Equals(source, to, StringComparison.Ordinal))
        {
            error.WriteLine($"--to: {to} is the data path itself");
            return Usage;
        }

        if (File.Exists(to) && !force)
        {
            error.WriteLine($"--to: {to} exists; pass --force to replace it");
            return Refused;
        }

        var folder = Path.GetDirectoryName(to)!;
        if (!Directory.Exists(folder))
        {
            error.WriteLine($"--to: the folder {folder} does not exist");
            return Usage;
        }

        // Beside the target, so the final rename stays on one file system and is atomic.
        var partial = Path.Combine(folder, $".{Path.GetFileName(to)}.{Guid.NewGuid():N}.partial");
        try
        {
            long index;
            using (var from = Open(source, SqliteOpenMode.ReadWrite))
            {
                if (!IsRegistryDatabase(from))
                {
                    error.WriteLine($"--data-path: {source} is not a registry database (it has no registry schema)");
                    return Usage;
                }

                SqliteRegistryDatabase.CreatePrivately(partial); // a copy of the token hashes, as private as the store
                using var copy = Open(partial, SqliteOpenMode.ReadWriteCreate);
                from.BackupDatabase(copy);
                index = Check(copy);
            }

            File.Move(partial, to, overwrite: force);
            output.WriteLine($"backed up {source} to {to} ({new FileInfo(to).Length.ToString(CultureInfo.InvariantCulture)} bytes, index {index.ToString(CultureInfo.InvariantCulture)})");
            return Ok;
        }
        catch (SqliteException ex)
        {
            error.WriteLine($"the backup of {source} failed: {ex.Message}");
            return Failed;
        }
        catch (IOException ex) when (File.Exists(to) && !force)
        {
            // Another process made the file between the check above and the rename; it is left as it is.
            error.WriteLine($"--to: {to} exists; pass --force to replace it ({ex.Message})");
            return Refused;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"the backup of {source} to {to} failed: {ex.Message}");
            return Failed;
        }
        finally
        {
            DeleteQuietly(partial);
            DeleteQuietly(partial + "-wal");
            DeleteQuietly(partial + "-shm");
        }
    }

    private static SqliteConnection Open(string path, SqliteOpenMode mode)
    {
        // Unpooled, so closing releases the file before it is renamed; the timeout rides out a checkpoint of the running registry.
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = mode,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString());
        connection.Open();
        using var busy = connection.CreateCommand();
        busy.CommandText = "PRAGMA busy_timeout=30000;";
        busy.ExecuteNonQuery();
        return connection;
    }

    private static bool IsRegistryDatabase(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'services', 'instances', 'policy_versions', 'join_tokens');";
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) == 5;
    }

    /// <summary>Checks the copy's pages and returns the index it holds.</summary>
    private static long Check(SqliteConnection copy)
    {
        using var check = copy.CreateCommand();
        check.CommandText = "PRAGMA quick_check;";
        var result = check.ExecuteScalar() as string;
        if (result != "ok")
        {
            throw new IOException($"the copy failed SQLite's quick_check: {result}");
        }

        using var index = copy.CreateCommand();
        index.CommandText = "SELECT value FROM meta WHERE key = 'index';";
        return index.ExecuteScalar() is string text ? long.Parse(text, CultureInfo.InvariantCulture) : 0;
    }

    private static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A leftover temporary file, named as one; the backup's outcome is already decided.
        }
    }
}

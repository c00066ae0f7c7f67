using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Mesh.Registry.Store.Sqlite;

/// <summary>
/// The embedded SQLite store: one connection, WAL journal, <c>synchronous=NORMAL</c>, so a committed write is in the
/// write-ahead log before the registry answers and survives the process being killed. One transaction per change, one
/// per batch of renewals. Safe from any thread: every call takes the store's lock.
/// </summary>
internal sealed class SqliteRegistryDatabase : IDisposable
{
    private const int SchemaVersion = 1;
    private readonly SqliteConnection _connection;

    // Every public method takes this lock, so the store is safe from any thread. The registry's lease writer also holds
    // it (see Hold) across the moment it releases the registry's own lock, so nothing is written between its snapshot
    // of the leases and their commit.
    private readonly Lock _lock = new();
    private SqliteCommand? _renew;

    /// <summary>
    /// Makes a new store file readable by its owner only, in a new folder only its owner can enter: the file holds the
    /// hashes of every token, which a configured weak token would give up to an offline guess. SQLite gives its WAL
    /// and shared-memory files the database file's mode. An existing file or folder keeps the mode its owner chose.
    /// </summary>
    internal static void CreatePrivately(string filePath)
    {
        var directory = Path.GetDirectoryName(filePath);
        if (OperatingSystem.IsWindows())
        {
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
            }

            return;
        }

        if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        if (!File.Exists(filePath))
        {
            try
            {
                using var created = new FileStream(filePath, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
            }
            catch (IOException) when (File.Exists(filePath))
            {
                // made meanwhile by someone else: its mode is theirs
            }
        }
    }

    public SqliteRegistryDatabase(string path)
    {
        FilePath = Path.GetFullPath(path);
        CreatePrivately(FilePath);
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = FilePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false, // one connection for the process' life; closing it must release the file
        }.ToString());
        _connection.Open();
        Exec("PRAGMA journal_mode=WAL;");
        Exec("PRAGMA synchronous=NORMAL;");
        Exec("PRAGMA busy_timeout=5000;");
        Exec("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS services (
                name TEXT PRIMARY KEY,
                instances_index INTEGER NOT NULL DEFAULT 0,
                policy_index INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS instances (
                service TEXT NOT NULL,
                id TEXT NOT NULL,
                address TEXT NOT NULL,
                version TEXT,
                zone TEXT,
                labels TEXT NOT NULL,
                ttl_seconds INTEGER NOT NULL,
                renewed_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                PRIMARY KEY (service, id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS policy_versions (
                service TEXT NOT NULL,
                version INTEGER NOT NULL,
                document TEXT,
                created_at INTEGER NOT NULL,
                rollback_of INTEGER,
                PRIMARY KEY (service, version)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS join_tokens (
                id TEXT PRIMARY KEY,
                hash TEXT NOT NULL,
                service TEXT NOT NULL,
                version TEXT,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                uses INTEGER NOT NULL,
                used INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS rollouts (
                service TEXT PRIMARY KEY,
                document TEXT NOT NULL,
                revision INTEGER NOT NULL) WITHOUT ROWID;
            """);
        var schema = GetMeta("schema");
        if (schema is null)
        {
            SetMeta("schema", SchemaVersion.ToString(CultureInfo.InvariantCulture));
        }
        else if (schema != SchemaVersion.ToString(CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException($"The registry store '{FilePath}' has schema version {schema}; this registry reads version {SchemaVersion}.");
        }
    }

    public string FilePath { get; }

    /// <summary>
    /// Holds the store: other writers wait until the scope is disposed. The lease writer takes it before it lets go of
    /// the registry's lock, so a change that comes after its snapshot is written after its batch.
    /// </summary>
    public Lock.Scope Hold() => _lock.EnterScope();

    public StoredState Load()
    {
        lock (_lock)
        {
            var index = long.Parse(GetMeta("index") ?? "0", CultureInfo.InvariantCulture);
            var services = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
            using (var cmd = Command("SELECT name, instances_index, policy_index FROM services"))
            using (var reader = cmd.ExecuteReader())
            {
                while (reader.Read())
                {
                    services[reader.GetString(0)] = (reader.GetInt64(1), reader.GetInt64(2));
                }
            }

            var instances = new List<InstanceEntry>();
            using (var cmd = Command("SELECT service, id, address, version, zone, labels, ttl_seconds, renewed_at, expires_at FROM instances"))
            using (var reader = cmd.ExecuteReader())
            {
                while (reader.Read())
                {
                    instances.Add(new InstanceEntry
                    {
                        Service = reader.GetString(0),
                        Id = reader.GetString(1),
                        Address = reader.GetString(2),
                        Version = reader.IsDBNull(3) ? null : reader.GetString(3),
                        Zone = reader.IsDBNull(4) ? null : reader.GetString(4),
                        Labels = LabelsJson.Parse(reader.GetString(5)),
                        TtlSeconds = reader.GetInt32(6),
                        RenewedAt = FromTicks(reader.GetInt64(7)),
                        ExpiresAt = FromTicks(reader.GetInt64(8)),
                    });
                }
            }

            var policies = new Dictionary<string, StoredPolicyVersion>(StringComparer.Ordinal);
            using (var cmd = Command("""
                SELECT p.service, p.version, p.document, p.created_at, p.rollback_of FROM policy_versions p
                WHERE p.version = (SELECT MAX(version) FROM policy_versions q WHERE q.service = p.service)
                """))
            using (var reader = cmd.ExecuteReader())
            {
                while (reader.Read())
                {
                    policies[reader.GetString(0)] = ReadVersion(reader, 1);
                }
            }

            return new StoredState(index, services, instances, policies);
        }
    }

    public string? GetMeta(string key)
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT value FROM meta WHERE key = $key", ("$key", key));
            return cmd.ExecuteScalar() as string;
        }
    }

    public void SetMeta(string key, string value)
    {
        lock (_lock)
        {
            using var cmd = Command("INSERT INTO meta (key, value) VALUES ($key, $value) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                ("$key", key), ("$value", value));
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>Writes a new or changed registration, stamped with the new global index.</summary>
    public void PutInstance(InstanceEntry e, long index)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            Upsert(e);
            Stamp(e.Service, index, policy: false);
            tx.Commit();
        }
    }

    /// <summary>
    /// Renewals: only the leases move, the index does not. One transaction for the whole batch (group commit: the
    /// registry's lease writer collects the renewals that arrive while the previous batch commits), with one prepared
    /// statement kept for the store's life, so a renewal costs a bound and stepped statement, not a parse and a commit.
    /// </summary>
    public void RenewAll(IEnumerable<InstanceEntry> entries)
    {
        lock (_lock)
        {
            if (_renew is null)
            {
                _renew = Command("UPDATE instances SET renewed_at = $renewed, expires_at = $expires WHERE service = $service AND id = $id",
                    ("$renewed", 0L), ("$expires", 0L), ("$service", string.Empty), ("$id", string.Empty));
                _renew.Prepare();
            }

            using var tx = _connection.BeginTransaction();

            // A command takes the connection's transaction when it is created; this one outlives transactions, so it is given each one.
            _renew.Transaction = tx;
            try
            {
                foreach (var e in entries)
                {
                    _renew.Parameters[0].Value = e.RenewedAt.UtcTicks;
                    _renew.Parameters[1].Value = e.ExpiresAt.UtcTicks;
                    _renew.Parameters[2].Value = e.Service;
                    _renew.Parameters[3].Value = e.Id;
                    if (_renew.ExecuteNonQuery() == 0)
                    {
                        // Memory and file disagree; write the whole row rather than lose the lease.
                        Upsert(e);
                    }
                }

                tx.Commit();
            }
            finally
            {
                _renew.Transaction = null;
            }
        }
    }

    /// <summary>Removes instances (deregistration or expiry) of one service, stamped with the new global index.</summary>
    public void RemoveInstances(string service, IEnumerable<string> ids, long index)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            foreach (var id in ids)
            {
                using var cmd = Command("DELETE FROM instances WHERE service = $service AND id = $id", ("$service", service), ("$id", id));
                cmd.ExecuteNonQuery();
            }

            Stamp(service, index, policy: false);
            tx.Commit();
        }
    }

    public void AddPolicyVersion(string service, StoredPolicyVersion version, long index)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using (var cmd = Command("""
                INSERT INTO policy_versions (service, version, document, created_at, rollback_of)
                VALUES ($service, $version, $document, $created, $rollback)
                """,
                ("$service", service), ("$version", version.Version), ("$document", version.Document), ("$created", version.CreatedAt.UtcTicks),
                ("$rollback", version.RollbackOf)))
            {
                cmd.ExecuteNonQuery();
            }

            Stamp(service, index, policy: true);
            tx.Commit();
        }
    }

    public StoredPolicyVersion? GetPolicyVersion(string service, long version)
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT version, document, created_at, rollback_of FROM policy_versions WHERE service = $service AND version = $version",
                ("$service", service), ("$version", version));
            using var reader = cmd.ExecuteReader();
            return reader.Read() ? ReadVersion(reader, 0) : null;
        }
    }

    /// <summary>A service's policy versions, newest first.</summary>
    public List<StoredPolicyVersion> GetPolicyHistory(string service, int limit)
    {
        lock (_lock)
        {
            using var cmd = Command("""
                SELECT version, document, created_at, rollback_of FROM policy_versions WHERE service = $service
                ORDER BY version DESC LIMIT $limit
                """, ("$service", service), ("$limit", limit));
            using var reader = cmd.ExecuteReader();
            var list = new List<StoredPolicyVersion>();
            while (reader.Read())
            {
                list.Add(ReadVersion(reader, 0));
            }

            return list;
        }
    }

    public StoredRollout? GetRollout(string service)
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT service, document, revision FROM rollouts WHERE service = $service", ("$service", service));
            using var reader = cmd.ExecuteReader();
            return reader.Read() ? new StoredRollout(reader.GetString(0), reader.GetString(1), reader.GetInt64(2)) : null;
        }
    }

    public List<StoredRollout> ListRollouts()
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT service, document, revision FROM rollouts ORDER BY service");
            using var reader = cmd.ExecuteReader();
            var list = new List<StoredRollout>();
            while (reader.Read())
            {
                list.Add(new StoredRollout(reader.GetString(0), reader.GetString(1), reader.GetInt64(2)));
            }

            return list;
        }
    }

    /// <summary>Writes a rollout only while its revision is <paramref name="expectedRevision"/> (0: none yet), in one statement.</summary>
    public StoredRollout? WriteRollout(string service, string document, long expectedRevision)
    {
        lock (_lock)
        {
            using var cmd = expectedRevision == 0
                ? Command("INSERT INTO rollouts (service, document, revision) VALUES ($service, $document, 1) ON CONFLICT(service) DO NOTHING",
                    ("$service", service), ("$document", document))
                : Command("UPDATE rollouts SET document = $document, revision = revision + 1 WHERE service = $service AND revision = $expected",
                    ("$service", service), ("$document", document), ("$expected", expectedRevision));
            return cmd.ExecuteNonQuery() == 0 ? null : new StoredRollout(service, document, expectedRevision + 1);
        }
    }

    /// <summary>The join tokens made through the API (hashes only; the tokens themselves are never kept).</summary>
    public List<JoinToken> LoadJoinTokens()
    {
        lock (_lock)
        {
            using var cmd = Command("SELECT id, hash, service, version, created_at, expires_at, uses, used FROM join_tokens");
            using var reader = cmd.ExecuteReader();
            var list = new List<JoinToken>();
            while (reader.Read())
            {
                list.Add(new JoinToken(reader.GetString(0), Convert.FromHexString(reader.GetString(1)), reader.GetString(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3), FromTicks(reader.GetInt64(4)), FromTicks(reader.GetInt64(5)),
                    reader.GetInt32(6), reader.GetInt32(7)));
            }

            return list;
        }
    }

    /// <summary>Adds a join token and deletes <paramref name="expired"/> in one transaction.</summary>
    public void AddJoinToken(JoinToken token, IEnumerable<string> expired)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using (var cmd = Command("""
                INSERT INTO join_tokens (id, hash, service, version, created_at, expires_at, uses, used)
                VALUES ($id, $hash, $service, $version, $created, $expires, $uses, $used)
                """,
                ("$id", token.Id), ("$hash", Convert.ToHexString(token.Hash)), ("$service", token.Service), ("$version", token.Version),
                ("$created", token.CreatedAt.UtcTicks), ("$expires", token.ExpiresAt.UtcTicks), ("$uses", token.Uses), ("$used", token.Used)))
            {
                cmd.ExecuteNonQuery();
            }

            foreach (var id in expired)
            {
                using var cmd = Command("DELETE FROM join_tokens WHERE id = $id", ("$id", id));
                cmd.ExecuteNonQuery();
            }

            tx.Commit();
        }
    }

    /// <summary>
    /// Moves a join token's use count by <paramref name="delta"/> while it stays from 0 to its uses, in one statement;
    /// the count after it, or null when the token is gone or the count would leave that range.
    /// </summary>
    public int? ChangeJoinTokenUsed(string id, int delta)
    {
        lock (_lock)
        {
            using var cmd = Command(
                "UPDATE join_tokens SET used = used + $delta WHERE id = $id AND used + $delta BETWEEN 0 AND uses RETURNING used",
                ("$id", id), ("$delta", delta));
            return cmd.ExecuteScalar() is long used ? (int)used : null;
        }
    }

    public bool DeleteJoinToken(string id)
    {
        lock (_lock)
        {
            using var cmd = Command("DELETE FROM join_tokens WHERE id = $id", ("$id", id));
            return cmd.ExecuteNonQuery() > 0;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _renew?.Dispose();
            _connection.Dispose();
        }
    }

    private void Upsert(InstanceEntry e)
    {
        using var cmd = Command("""
            INSERT INTO instances (service, id, address, version, zone, labels, ttl_seconds, renewed_at, expires_at)
            VALUES ($service, $id, $address, $version, $zone, $labels, $ttl, $renewed, $expires)
            ON CONFLICT(service, id) DO UPDATE SET address = excluded.address, version = excluded.version, zone = excluded.zone,
                labels = excluded.labels, ttl_seconds = excluded.ttl_seconds, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
            """,
            ("$service", e.Service), ("$id", e.Id), ("$address", e.Address), ("$version", e.Version), ("$zone", e.Zone),
            ("$labels", LabelsJson.Write(e.Labels)), ("$ttl", e.TtlSeconds), ("$renewed", e.RenewedAt.UtcTicks), ("$expires", e.ExpiresAt.UtcTicks));
        cmd.ExecuteNonQuery();
    }

    /// <summary>Moves the global index and the service's own index (of its instances or of its policy) to <paramref name="index"/>.</summary>
    private void Stamp(string service, long index, bool policy)
    {
        SetMeta("index", index.ToString(CultureInfo.InvariantCulture));
        var column = policy ? "policy_index" : "instances_index";
        using var cmd = Command($"""
            INSERT INTO services (name, {column}) VALUES ($name, $index)
            ON CONFLICT(name) DO UPDATE SET {column} = excluded.{column}
            """, ("$name", service), ("$index", index));
        cmd.ExecuteNonQuery();
    }

    private static StoredPolicyVersion ReadVersion(SqliteDataReader reader, int first) => new(
        reader.GetInt64(first),
        reader.IsDBNull(first + 1) ? null : reader.GetString(first + 1),
        FromTicks(reader.GetInt64(first + 2)),
        reader.IsDBNull(first + 3) ? null : reader.GetInt64(first + 3));

    private static DateTimeOffset FromTicks(long ticks) => new(ticks, TimeSpan.Zero);

    private void Exec(string sql)
    {
        using var cmd = Command(sql);
        cmd.ExecuteNonQuery();
    }

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = _connection.CreateCommand();
#pragma warning disable CA2100 // every statement is a constant; values travel as parameters
        cmd.CommandText = sql;
#pragma warning restore CA2100
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return cmd;
    }
}

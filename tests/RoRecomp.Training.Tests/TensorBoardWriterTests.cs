using System.Buffers.Binary;
using System.Text;
using RoRecomp.Core.Coordination;
using RoRecomp.Core.Metrics;
using RoRecomp.Training.Runs;
using RoRecomp.Training.Steps;

namespace RoRecomp.Training.Tests;

/// <summary>The run's TensorBoard event file, read back by an independent TFRecord/protobuf reader that checks both CRCs.</summary>
public sealed class TensorBoardWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rorecomp-tboard-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static StepRecord Step(long step, double loss, HeldOutEvaluation? eval = null) => new(
        new StepMetrics(step, step, 32, 0.5 + step / 100.0, 30 + step, 31, 0, 0.9, 17, 16, 8, 9, 13, step - 1),
        new LearnerMetrics(loss, 0.13, 0, 1e-8, 0.9, 5E-05, -0.29, 1, 0.8),
        eval, 8 * step, 2.5, null);

    private string RunWithRecorder(bool tensorBoard = true)
    {
        var recorder = new RunRecorder(_dir, "thinking", true, TextWriter.Null, false, tensorBoard);
        recorder.Started(new RunStart(null, 0, 2, []));
        recorder.Baseline(new HeldOutEvaluation(0, 0.25, 40, 0, 0.75, 32));
        recorder.StepCompleted(Step(1, 0.125));
        recorder.StepCompleted(Step(2, -0.5, new HeldOutEvaluation(2, 0.375, 36.5, 0.5, 0.875, 32)));
        recorder.Finished();
        return _dir;
    }

    [Fact]
    public void Crc32C_matches_the_standard_check_value() =>
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));

    [Fact]
    public void A_run_writes_train_and_eval_scalars_at_their_steps()
    {
        RunWithRecorder();
        var file = Assert.Single(Directory.GetFiles(Path.Combine(_dir, RunRecorder.TensorBoardDir)));
        Assert.StartsWith("events.out.tfevents.", Path.GetFileName(file), StringComparison.Ordinal);

        var events = EventReader.Read(File.ReadAllBytes(file));
        Assert.Equal(TensorBoardWriter.FileVersion, events[0].FileVersion);
        Assert.All(events, e => Assert.InRange(e.WallTime, 1.7e9, 4e9));
        var scalars = events.SelectMany(e => e.Values.Select(v => (e.Step, v.Tag, v.Value))).ToList();

        Assert.Equal([0L, 2L], scalars.Where(s => s.Tag == "eval/accuracy").Select(s => s.Step));
        Assert.Contains((0L, "eval/accuracy", 0.25f), scalars);
        Assert.Contains((0L, "eval/mean_length", 40f), scalars);
        Assert.Contains((2L, "eval/accuracy", 0.375f), scalars);
        Assert.Contains((2L, "eval/tool_calls", 0.5f), scalars);
        Assert.Contains((2L, "eval/format_valid", 0.875f), scalars);
        Assert.Contains((1L, "train/loss", 0.125f), scalars);
        Assert.Contains((2L, "train/loss", -0.5f), scalars);
        Assert.Contains((1L, "train/accuracy", 0.51f), scalars);
        Assert.Contains((2L, "train/mean_length", 32f), scalars);
        Assert.Equal([1L, 2L], scalars.Where(s => s.Tag == "train/grad_norm").Select(s => s.Step));
    }

    [Fact]
    public void A_resumed_run_starts_a_new_file_with_a_restart_marker()
    {
        RunWithRecorder();
        var recorder = new RunRecorder(_dir, "thinking", true, TextWriter.Null, false, true);
        recorder.Started(new RunStart(new RunCheckpoint(1, 8, 1, Path.Combine(_dir, "checkpoints", "step-000001")), 1, 2, []));
        recorder.StepCompleted(Step(2, 0.25));
        recorder.Finished();

        var files = Directory.GetFiles(Path.Combine(_dir, RunRecorder.TensorBoardDir));
        Assert.Equal(2, files.Length);
        var resumed = files.Select(f => EventReader.Read(File.ReadAllBytes(f))).Single(es => es.Any(e => e.SessionStart));
        var marker = Assert.Single(resumed, e => e.SessionStart);
        Assert.Equal(2, marker.Step);
        Assert.Contains(resumed, e => e.Step == 2 && e.Values.Contains(("train/loss", 0.25f)));
    }

    [Fact]
    public void Writers_started_in_the_same_second_get_their_own_files()
    {
        using var first = new TensorBoardWriter(_dir);
        using var second = new TensorBoardWriter(_dir);
        using var third = new TensorBoardWriter(_dir);
        Assert.Equal(3, new[] { first.Path, second.Path, third.Path }.Distinct().Count());
    }

    [Fact]
    public void Turned_off_it_writes_no_event_files()
    {
        RunWithRecorder(tensorBoard: false);
        Assert.False(Directory.Exists(Path.Combine(_dir, RunRecorder.TensorBoardDir)));
        Assert.True(File.Exists(RunFiles.PathOf(_dir, RunFiles.MetricsFile)));
    }

    [Theory]
    [InlineData(3)]     // the length's CRC
    [InlineData(20)]    // inside the first event's data
    [InlineData(-1)]    // the last record's data CRC
    public void A_corrupted_byte_fails_the_crc_check(int at)
    {
        RunWithRecorder();
        var bytes = File.ReadAllBytes(Assert.Single(Directory.GetFiles(Path.Combine(_dir, RunRecorder.TensorBoardDir))));
        EventReader.Read(bytes);
        bytes[at >= 0 ? at + 8 : bytes.Length + at] ^= 0x10;
        Assert.Throws<InvalidDataException>(() => EventReader.Read(bytes));
    }

    /// <summary>One decoded <c>Event</c>.</summary>
    private sealed record Event(double WallTime, long Step, string? FileVersion, List<(string Tag, float Value)> Values, bool SessionStart);

    /// <summary>Reads TFRecord framing (checking both masked CRC32Cs) and decodes the Event/Summary protobuf fields used.</summary>
    private static class EventReader
    {
        public static List<Event> Read(byte[] file)
        {
            var events = new List<Event>();
            var at = 0;
            while (at < file.Length)
            {
                var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(at, 8));
                Check(file.AsSpan(at, 8), BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 8, 4)), "length");
                var data = file.AsSpan(at + 12, length);
                Check(data, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 12 + length, 4)), "data");
                events.Add(Decode(data.ToArray()));
                at += 12 + length + 4;
            }
            return events;
        }

        private static void Check(ReadOnlySpan<byte> data, uint stored, string what)
        {
            var crc = Crc32C.Compute(data);
            if (((crc >> 15) | (crc << 17)) + 0xa282ead8 != stored) throw new InvalidDataException($"{what} CRC mismatch");
        }

        private static Event Decode(byte[] data)
        {
            double wall = 0;
            long step = 0;
            string? version = null;
            var values = new List<(string, float)>();
            var start = false;
            foreach (var (field, wire, payload, number) in Fields(data))
            {
                switch (field, wire)
                {
                    case (1, 1): wall = BitConverter.Int64BitsToDouble((long)number); break;
                    case (2, 0): step = (long)number; break;
                    case (3, 2): version = Encoding.UTF8.GetString(payload); break;
                    case (5, 2):
                        foreach (var (f, _, value, _) in Fields(payload))
                        {
                            if (f != 1) continue;
                            string tag = "";
                            float simple = float.NaN;
                            foreach (var (vf, vw, vp, vn) in Fields(value))
                            {
                                if (vf == 1 && vw == 2) tag = Encoding.UTF8.GetString(vp);
                                if (vf == 2 && vw == 5) simple = BitConverter.Int32BitsToSingle((int)vn);
                            }
                            values.Add((tag, simple));
                        }
                        break;
                    case (6, 2): start = Fields(payload).Any(s => s.Field == 1 && s.Number == 1); break;
                    default: throw new InvalidDataException($"unexpected field {field} (wire type {wire})");
                }
            }
            return new Event(wall, step, version, values, start);
        }

        private static List<(int Field, int Wire, byte[] Payload, ulong Number)> Fields(byte[] data)
        {
            var fields = new List<(int, int, byte[], ulong)>();
            var at = 0;
            while (at < data.Length)
            {
                var key = Varint(data, ref at);
                var (field, wire) = ((int)(key >> 3), (int)(key & 7));
                switch (wire)
                {
                    case 0: fields.Add((field, wire, [], Varint(data, ref at))); break;
                    case 1: fields.Add((field, wire, [], BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(at, 8)))); at += 8; break;
                    case 5: fields.Add((field, wire, [], BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at, 4)))); at += 4; break;
                    case 2:
                        var n = (int)Varint(data, ref at);
                        fields.Add((field, wire, data[at..(at + n)], 0));
                        at += n;
                        break;
                    default: throw new InvalidDataException($"wire type {wire}");
                }
            }
            return fields;
        }

        private static ulong Varint(byte[] data, ref int at)
        {
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = data[at++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return value;
            }
        }
    }
}

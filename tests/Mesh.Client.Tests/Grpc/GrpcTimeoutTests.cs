using Mesh.Client.Grpc;

namespace Mesh.Client.Tests.Grpc;

public sealed class GrpcTimeoutTests
{
    public static TheoryData<string, long> EachUnit => new()
    {
        { "2H", 2 * TimeSpan.TicksPerHour },
        { "3M", 3 * TimeSpan.TicksPerMinute },
        { "7S", 7 * TimeSpan.TicksPerSecond },
        { "250m", 250 * TimeSpan.TicksPerMillisecond },
        { "1500u", 1500 * TimeSpan.TicksPerMicrosecond },
        { "123400n", 1234 },
        { "0m", 0 },
        { "00000005S", 5 * TimeSpan.TicksPerSecond },
        { "99999999u", 99_999_999 * TimeSpan.TicksPerMicrosecond },
    };

    [Theory]
    [MemberData(nameof(EachUnit))]
    public void Each_unit_parses_to_its_duration(string text, long ticks)
    {
        GrpcTimeout.TryParse(text, out var timeout).ShouldBeTrue();
        timeout.Ticks.ShouldBe(ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("m")]
    [InlineData("100")]
    [InlineData("100000000m")] // nine digits: the wire format allows eight
    [InlineData("10s")] // units are case-sensitive: s is not S
    [InlineData("10h")]
    [InlineData("10x")]
    [InlineData("-5m")]
    [InlineData("+5m")]
    [InlineData(" 5m")]
    [InlineData("5 m")]
    [InlineData("1.5S")]
    [InlineData("5mm")]
    public void A_malformed_value_is_not_a_timeout(string text)
    {
        GrpcTimeout.TryParse(text, out _).ShouldBeFalse();
    }

    [Fact]
    public void Eight_digits_are_the_limit()
    {
        GrpcTimeout.TryParse("99999999u", out var timeout).ShouldBeTrue();
        timeout.ShouldBe(TimeSpan.FromMicroseconds(99_999_999));
        GrpcTimeout.TryParse("999999999u", out _).ShouldBeFalse();
        GrpcTimeout.TryParse("000000001u", out _).ShouldBeFalse(); // nine characters of digits, even if leading zeros
    }

    [Fact]
    public void A_budget_above_a_day_is_clamped_to_a_day()
    {
        GrpcTimeout.TryParse("99999999H", out var timeout).ShouldBeTrue();
        timeout.ShouldBe(TimeSpan.FromDays(1));
    }

    [Theory]
    [InlineData(1500, "1500m")]
    [InlineData(86_400_000, "86400000m")] // a day, the longest budget the mesh passes on, still fits eight digits
    [InlineData(0, "0u")]
    public void Budgets_are_written_in_milliseconds(long milliseconds, string expected)
    {
        GrpcTimeout.Format(TimeSpan.FromMilliseconds(milliseconds)).ShouldBe(expected);
    }

    [Fact]
    public void Time_is_rounded_down_so_the_next_hop_never_gets_more()
    {
        GrpcTimeout.Format(TimeSpan.FromTicks((12 * TimeSpan.TicksPerMillisecond) + 9999)).ShouldBe("12m");
        GrpcTimeout.Format(TimeSpan.FromTicks(7 * TimeSpan.TicksPerMicrosecond + 9)).ShouldBe("7u");
        GrpcTimeout.Format(TimeSpan.FromTicks(-5)).ShouldBe("0u");
    }

    [Fact]
    public void Budgets_too_long_for_eight_digits_of_milliseconds_move_to_a_coarser_unit()
    {
        GrpcTimeout.Format(TimeSpan.FromMilliseconds(100_000_000)).ShouldBe("100000S");
        GrpcTimeout.Format(TimeSpan.FromDays(2000)).ShouldBe("2880000M");
        GrpcTimeout.Format(TimeSpan.FromDays(100_000)).ShouldBe("2400000H");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(999)]
    [InlineData(123_456_789)]
    public void What_is_written_parses_back_to_at_most_the_budget(long milliseconds)
    {
        var budget = TimeSpan.FromMilliseconds(milliseconds);
        var text = GrpcTimeout.Format(budget);
        text.Length.ShouldBeLessThanOrEqualTo(9);
        GrpcTimeout.TryParse(text, out var parsed).ShouldBeTrue();
        parsed.ShouldBeLessThanOrEqualTo(budget);
    }
}

package io.quantcore.spark;

/**
 * Decimal strings as exact scaled integers: "65000.01" at scale 8 is 6500001000000. A string
 * that the scale or {@link #PRECISION} digits cannot hold unchanged, or that is not a plain
 * decimal number ([+-]digits[.digits]), has no value: {@link #UNFIT}. Spark's own
 * string-to-decimal cast rounds (HALF_UP) instead, so it cannot tell exact from rounded.
 * The plain-Python reference is {@code streaming/spark/book_layout.py::fits}.
 */
final class ExactDecimal {
  static final int PRECISION = 18; // digits of a 64-bit unscaled value, in Spark and in Parquet
  static final long UNFIT = Long.MIN_VALUE;

  private ExactDecimal() {}

  /** The unscaled value of {@code text} at {@code scale}, or UNFIT. */
  static long unscaled(String text, int scale) {
    if (text == null || text.isEmpty()) {
      return UNFIT;
    }
    boolean negative = text.charAt(0) == '-';
    int start = negative || text.charAt(0) == '+' ? 1 : 0;
    int point = text.indexOf('.');
    int wholeEnd = point < 0 ? text.length() : point;
    int fractionEnd = text.length();
    if (!digits(text, start, wholeEnd) || (point >= 0 && !digits(text, point + 1, fractionEnd))) {
      return UNFIT;
    }
    if (wholeEnd == start && (point < 0 || fractionEnd == point + 1)) {
      return UNFIT; // "", "-", ".", "-."
    }
    if (point >= 0) {
      while (fractionEnd > point + 1 && text.charAt(fractionEnd - 1) == '0') {
        fractionEnd--; // trailing zeros change nothing
      }
    }
    int wholeStart = start;
    while (wholeStart < wholeEnd && text.charAt(wholeStart) == '0') {
      wholeStart++; // leading zeros neither
    }
    int fractionDigits = point < 0 ? 0 : fractionEnd - point - 1;
    if (fractionDigits > scale || wholeEnd - wholeStart > PRECISION - scale) {
      return UNFIT;
    }
    long value = 0; // at most PRECISION digits: no overflow
    for (int i = wholeStart; i < wholeEnd; i++) {
      value = value * 10 + (text.charAt(i) - '0');
    }
    for (int i = 0; i < scale; i++) {
      int at = point + 1 + i;
      value = value * 10 + (point >= 0 && at < fractionEnd ? text.charAt(at) - '0' : 0);
    }
    return negative ? -value : value;
  }

  private static boolean digits(String text, int from, int to) {
    for (int i = from; i < to; i++) {
      char c = text.charAt(i);
      if (c < '0' || c > '9') {
        return false;
      }
    }
    return true;
  }
}

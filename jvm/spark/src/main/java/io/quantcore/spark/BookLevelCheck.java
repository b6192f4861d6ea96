package io.quantcore.spark;

import org.apache.spark.sql.api.java.UDF4;
import scala.collection.Seq;

/**
 * The level checks of a book in one pass over its parsed levels: which check fails first,
 * or null when the levels are usable.
 *
 * <p>Arguments: bid prices, bid quantities, ask prices, ask quantities (array&lt;double&gt;,
 * best level first; a null element is a number that did not parse). The result is the
 * 1-based number of the first failing check, in this order (the reason texts live in
 * {@code streaming/spark/book_validation.py}, in the same order):
 * <ol>
 *   <li>a price or quantity is null, NaN or infinite;
 *   <li>a price is not positive;
 *   <li>a quantity is negative;
 *   <li>bid prices are not strictly descending;
 *   <li>ask prices are not strictly ascending;
 *   <li>the book is crossed (best bid &gt;= best ask).
 * </ol>
 *
 * <p>Why Java: the same checks as Spark array expressions need sorts, a de-duplication and
 * interpreted higher-order functions, ~35 core-µs a record; this loop is a few.
 */
public final class BookLevelCheck implements UDF4<Seq<Object>, Seq<Object>, Seq<Object>, Seq<Object>, Integer> {
  private static final long serialVersionUID = 1L;

  static final int NOT_A_NUMBER = 1;
  static final int NON_POSITIVE_PRICE = 2;
  static final int NEGATIVE_QTY = 3;
  static final int BIDS_UNSORTED = 4;
  static final int ASKS_UNSORTED = 5;
  static final int CROSSED = 6;

  @Override
  public Integer call(Seq<Object> bidPx, Seq<Object> bidQty, Seq<Object> askPx, Seq<Object> askQty) {
    double[] bp = values(bidPx), bq = values(bidQty), ap = values(askPx), aq = values(askQty);
    if (bp == null || bq == null || ap == null || aq == null) {
      return NOT_A_NUMBER;
    }
    if (!(allFinite(bp) && allFinite(bq) && allFinite(ap) && allFinite(aq))) {
      return NOT_A_NUMBER;
    }
    if (min(bp, ap) <= 0) {
      return NON_POSITIVE_PRICE;
    }
    if (min(bq, aq) < 0) {
      return NEGATIVE_QTY;
    }
    if (!strictlySorted(bp, -1)) {
      return BIDS_UNSORTED;
    }
    if (!strictlySorted(ap, 1)) {
      return ASKS_UNSORTED;
    }
    if (bp.length > 0 && ap.length > 0 && bp[0] >= ap[0]) {
      return CROSSED;
    }
    return null;
  }

  /** The elements as doubles; null if one is null (unparseable). A null array is empty. */
  private static double[] values(Seq<Object> seq) {
    if (seq == null) {
      return new double[0];
    }
    double[] out = new double[seq.length()];
    for (int i = 0; i < out.length; i++) {
      Object value = seq.apply(i);
      if (value == null) {
        return null;
      }
      out[i] = ((Number) value).doubleValue();
    }
    return out;
  }

  private static boolean allFinite(double[] values) {
    for (double v : values) {
      if (!Double.isFinite(v)) {
        return false;
      }
    }
    return true;
  }

  private static double min(double[] a, double[] b) {
    double m = Double.POSITIVE_INFINITY;
    for (double v : a) {
      m = Math.min(m, v);
    }
    for (double v : b) {
      m = Math.min(m, v);
    }
    return m;
  }

  /** Each value strictly above (direction 1) or below (-1) the one before it. */
  private static boolean strictlySorted(double[] values, int direction) {
    for (int i = 1; i < values.length; i++) {
      if (!(direction * (values[i] - values[i - 1]) > 0)) {
        return false;
      }
    }
    return true;
  }
}

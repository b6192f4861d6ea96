package io.quantcore.spark;

import com.google.protobuf.Descriptors.Descriptor;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF3;
import org.apache.spark.sql.types.Decimal;

/**
 * Decodes a BookRecord into books_raw's flat row in one call: what {@link
 * ProtobufRowDecoder} decodes, with the levels as exact decimals, one per level and side
 * ({@code streaming/spark/book_layout.py}).
 *
 * <p>Arguments as {@link ProtobufRowDecoder}: (payload, FileDescriptorSet bytes, message
 * name), the message having repeated {@code bids} and {@code asks} of {price, qty} strings.
 * The result (schema in {@code streaming/spark/flat_books.py}), null when undecodable:
 * <ol>
 *   <li>every other field of the message, in declaration order, as the decoder gives it;
 *   <li>{@code bid_levels}, {@code ask_levels}: the record's level counts;
 *   <li>{@code fits}: false when a level cannot be stored unchanged (more than DEPTH levels,
 *       or a value {@link ExactDecimal} rejects): the replay quarantines the record;
 *   <li>bid prices, bid quantities, ask prices, ask quantities, DEPTH decimals each, null
 *       beyond a side's levels.
 * </ol>
 *
 * <p>Why one UDF: as a second UDF over the decoded struct, Spark converts the 80 level
 * strings to Java objects again at its boundary; measured at ~35 core-µs a record.
 */
public final class FlatBookDecoder implements UDF3<byte[], byte[], String, Row> {
  private static final long serialVersionUID = 1L;

  static final int DEPTH = 20;
  static final int PRICE_SCALE = 8;
  static final int QTY_SCALE = 6;
  private static final int PRICE = 0;
  private static final int QTY = 1;

  private final ProtobufRowDecoder decoder = new ProtobufRowDecoder();
  private transient volatile Layout layout;

  /** Where bids and asks sit in the decoded row, found once per message. */
  private record Layout(byte[] descriptorSet, String messageName, int fields, int bids, int asks) {}

  @Override
  public Row call(byte[] payload, byte[] descriptorSet, String messageName) {
    Row book = decoder.call(payload, descriptorSet, messageName);
    if (book == null) {
      return null;
    }
    Layout at = layout(descriptorSet, messageName);
    Object[] out = new Object[at.fields - 2 + 3 + 4 * DEPTH]; // see the class comment
    int n = 0;
    for (int i = 0; i < at.fields; i++) {
      if (i != at.bids && i != at.asks) {
        out[n++] = book.get(i);
      }
    }
    List<Row> bids = levels(book, at.bids);
    List<Row> asks = levels(book, at.asks);
    out[n++] = bids.size();
    out[n++] = asks.size();
    int fitsAt = n++;
    boolean fits = bids.size() <= DEPTH && asks.size() <= DEPTH;
    for (List<Row> levels : List.of(bids, asks)) {
      for (int what : new int[] {PRICE, QTY}) {
        fits &= fill(out, n, levels, what, what == PRICE ? PRICE_SCALE : QTY_SCALE);
        n += DEPTH;
      }
    }
    out[fitsAt] = fits;
    return RowFactory.create(out);
  }

  /** One side's prices or quantities as decimals from {@code offset}; false if one does not fit. */
  private static boolean fill(Object[] out, int offset, List<Row> levels, int what, int scale) {
    boolean fits = true;
    for (int i = 0; i < Math.min(levels.size(), DEPTH); i++) {
      long unscaled = ExactDecimal.unscaled(levels.get(i).getString(what), scale);
      if (unscaled == ExactDecimal.UNFIT) {
        fits = false;
      } else {
        out[offset + i] = Decimal.apply(unscaled, ExactDecimal.PRECISION, scale);
      }
    }
    return fits;
  }

  private Layout layout(byte[] descriptorSet, String messageName) {
    Layout at = layout;
    if (at != null && at.descriptorSet == descriptorSet && at.messageName.equals(messageName)) {
      return at;
    }
    Descriptor d = ProtobufRowDecoder.descriptor(descriptorSet, messageName);
    at = new Layout(descriptorSet, messageName, d.getFields().size(),
        d.findFieldByName("bids").getIndex(), d.findFieldByName("asks").getIndex());
    layout = at;
    return at;
  }

  /** The decoders put repeated fields in rows as java.util.List (Row.getList wants a Seq). */
  @SuppressWarnings("unchecked")
  private static List<Row> levels(Row book, int index) {
    return (List<Row>) book.get(index);
  }
}

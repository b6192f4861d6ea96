package io.quantcore.spark;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import com.google.protobuf.WireFormat;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/**
 * Parses protobuf wire bytes straight into a Spark row, following a plan compiled once per
 * message from its descriptor: no {@code DynamicMessage}, whose field maps, per-level
 * messages and reflective reads cost most of the decoding time.
 *
 * <p>It yields exactly what {@link ProtobufRowDecoder#toRow} yields for the same bytes
 * (the tests decode the same payloads both ways). The one case it declines is a singular
 * message field that occurs twice, which protobuf merges: {@link #parse} then returns
 * {@link #MERGE_NEEDED} and the caller falls back to {@code DynamicMessage}. Groups
 * (proto2's deprecated nested encoding) are declined the same way.
 */
final class WireRowParser {
  /** Returned when the bytes need protobuf's merge semantics (see the class comment). */
  static final Row MERGE_NEEDED = RowFactory.create();

  private static final Map<Descriptor, WireRowParser> PLANS = new ConcurrentHashMap<>();

  private final int fieldCount;
  private final Map<Integer, Slot> slotsByNumber = new HashMap<>();
  private final Slot[] slotsByIndex;
  private final Object[] defaults;

  /** One field of the plan: where its value goes and how to read it. */
  private record Slot(
      int index,
      FieldDescriptor field,
      boolean repeated,
      int oneof, // index of its oneof among the message's oneofs, or -1
      EnumDescriptor enumType,
      Descriptor messageType) {}

  private WireRowParser(Descriptor descriptor) {
    List<FieldDescriptor> fields = descriptor.getFields();
    fieldCount = fields.size();
    slotsByIndex = new Slot[fieldCount];
    defaults = new Object[fieldCount];
    List<OneofDescriptor> oneofs = descriptor.getOneofs();
    for (int i = 0; i < fieldCount; i++) {
      FieldDescriptor f = fields.get(i);
      OneofDescriptor oneof = f.getContainingOneof();
      Slot slot = new Slot(i, f, f.isRepeated(), oneof == null ? -1 : oneofs.indexOf(oneof),
          f.getJavaType() == FieldDescriptor.JavaType.ENUM ? f.getEnumType() : null,
          f.getJavaType() == FieldDescriptor.JavaType.MESSAGE ? f.getMessageType() : null);
      slotsByIndex[i] = slot;
      slotsByNumber.put(f.getNumber(), slot);
      defaults[i] = f.isRepeated() || f.hasPresence() ? null : scalarDefault(f);
    }
  }

  static WireRowParser forDescriptor(Descriptor descriptor) {
    WireRowParser plan = PLANS.get(descriptor);
    return plan != null ? plan : PLANS.computeIfAbsent(descriptor, WireRowParser::new);
  }

  /** The row of {@code payload}, or {@link #MERGE_NEEDED}; throws on malformed bytes. */
  Row parse(byte[] payload) throws IOException {
    CodedInputStream input = CodedInputStream.newInstance(payload);
    Object[] values = readMessage(input);
    return values == null ? MERGE_NEEDED : RowFactory.create(values);
  }

  /** The fields of one message up to the current limit; null when a merge is needed. */
  @SuppressWarnings("unchecked")
  private Object[] readMessage(CodedInputStream input) throws IOException {
    Object[] values = defaults.clone();
    boolean[] seen = null;
    while (true) {
      int tag = input.readTag();
      if (tag == 0) {
        break;
      }
      Slot slot = slotsByNumber.get(WireFormat.getTagFieldNumber(tag));
      int wireType = WireFormat.getTagWireType(tag);
      if (wireType == WireFormat.WIRETYPE_START_GROUP || wireType == WireFormat.WIRETYPE_END_GROUP) {
        return null; // groups: leave them to DynamicMessage
      }
      if (slot == null || !accepts(slot, wireType)) {
        input.skipField(tag); // unknown to this schema, as protobuf does
        continue;
      }
      if (slot.repeated) {
        List<Object> items = (List<Object>) values[slot.index];
        if (items == null) {
          items = new ArrayList<>();
          values[slot.index] = items;
        }
        if (wireType == WireFormat.WIRETYPE_LENGTH_DELIMITED && isPackable(slot.field)) {
          readPacked(input, slot, items);
        } else {
          Object item = readValue(input, slot);
          if (item == MERGE_NEEDED) {
            return null;
          }
          items.add(item);
        }
        continue;
      }
      if (slot.messageType != null) {
        if (seen == null) {
          seen = new boolean[fieldCount];
        }
        if (seen[slot.index]) {
          return null; // a repeated singular message merges: DynamicMessage's job
        }
        seen[slot.index] = true;
      }
      Object value = readValue(input, slot);
      if (value == MERGE_NEEDED) {
        return null;
      }
      if (slot.oneof >= 0) {
        clearOneof(values, slot);
      }
      values[slot.index] = value;
    }
    for (Slot slot : slotsByIndex) {
      if (slot.repeated && values[slot.index] == null) {
        values[slot.index] = new ArrayList<>(0);
      }
    }
    return values;
  }

  private void clearOneof(Object[] values, Slot set) {
    for (Slot other : slotsByIndex) {
      if (other.oneof == set.oneof) {
        values[other.index] = null;
      }
    }
  }

  private static boolean isPackable(FieldDescriptor f) {
    return f.getJavaType() != FieldDescriptor.JavaType.STRING
        && f.getJavaType() != FieldDescriptor.JavaType.BYTE_STRING
        && f.getJavaType() != FieldDescriptor.JavaType.MESSAGE;
  }

  /** The wire type the field is encoded with (packed repeated scalars are length-delimited). */
  private static boolean accepts(Slot slot, int wireType) {
    int expected = slot.field.getLiteType().getWireType();
    return wireType == expected
        || (slot.repeated && isPackable(slot.field) && wireType == WireFormat.WIRETYPE_LENGTH_DELIMITED);
  }

  private void readPacked(CodedInputStream input, Slot slot, List<Object> items) throws IOException {
    int limit = input.pushLimit(input.readRawVarint32());
    while (input.getBytesUntilLimit() > 0) {
      items.add(readValue(input, slot));
    }
    input.popLimit(limit);
  }

  private Object readValue(CodedInputStream input, Slot slot) throws IOException {
    switch (slot.field.getType()) {
      case DOUBLE: return input.readDouble();
      case FLOAT: return input.readFloat();
      case INT64: return input.readInt64();
      case UINT64: return input.readUInt64();
      case INT32: return input.readInt32();
      case FIXED64: return input.readFixed64();
      case FIXED32: return input.readFixed32();
      case BOOL: return input.readBool();
      case STRING: return input.readStringRequireUtf8();
      case BYTES: return input.readByteArray();
      case UINT32: return input.readUInt32();
      case SFIXED32: return input.readSFixed32();
      case SFIXED64: return input.readSFixed64();
      case SINT32: return input.readSInt32();
      case SINT64: return input.readSInt64();
      case ENUM: return enumName(slot.enumType, input.readEnum());
      case MESSAGE: return readNested(input, slot.messageType);
      default: return MERGE_NEEDED; // GROUP
    }
  }

  private static Object readNested(CodedInputStream input, Descriptor type) throws IOException {
    int limit = input.pushLimit(input.readRawVarint32());
    Object[] nested = forDescriptor(type).readMessage(input);
    if (nested == null) {
      return MERGE_NEEDED;
    }
    input.checkLastTagWas(0);
    input.popLimit(limit);
    return RowFactory.create(nested);
  }

  /** Open enums keep unknown numbers, named as protobuf-java names them. */
  private static String enumName(EnumDescriptor type, int number) {
    EnumValueDescriptor value = type.findValueByNumberCreatingIfUnknown(number);
    return value.getName();
  }

  private static Object scalarDefault(FieldDescriptor f) {
    switch (f.getJavaType()) {
      case ENUM: return ((EnumValueDescriptor) f.getDefaultValue()).getName();
      case BYTE_STRING: return new byte[0];
      default: return f.getDefaultValue();
    }
  }
}
